#!/usr/bin/env python3
"""Regenerates the real series of `data/real/` from the datasets statsmodels ships.

    python3 -m venv /tmp/real && /tmp/real/bin/pip install -r scripts/requirements-real.txt
    /tmp/real/bin/python scripts/real_data.py data/real

Each CSV is in dynrec's data format (docs/formats.md): `t,z1`, one sequence, empty cells where a
measurement is missing. Time is in years (decimal), so the periods dynrec reports are in years.

- co2.csv: weekly atmospheric CO2 at Mauna Loa, 1958-03-29 to 2001-12-29 (ppm), 2,284 rows of
  which 59 are missing: a strong trend, an annual cycle and gaps. Keeling and Whorf (2004),
  Scripps/CDIAC; public domain (statsmodels.datasets.co2).
- sunspots.csv: yearly mean sunspot number, 1700-2008, 309 rows: the ~11-year solar cycle.
  SIDC/NOAA; public domain (statsmodels.datasets.sunspots).
- elnino.csv: monthly mean sea-surface temperature of the eastern equatorial Pacific
  (Niño 1+2 region), 1950-2010 (°C), 732 rows: an annual cycle and El Niño's irregular 2-7-year
  swings. NOAA; public domain (statsmodels.datasets.elnino).

Imports statsmodels' dataset modules directly (statsmodels.api does not import on pandas 3).
"""

import math
import sys
from pathlib import Path

from statsmodels.datasets import co2, elnino, sunspots

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def write(path, rows):
    with open(path, "w", newline="\n") as f:
        f.write("t,z1\n")
        for t, z in rows:
            cell = "" if z is None or (isinstance(z, float) and math.isnan(z)) else repr(float(z))
            f.write(f"{t!r},{cell}\n")


def decimal_year(ts):
    start = type(ts)(ts.year, 1, 1)
    end = type(ts)(ts.year + 1, 1, 1)
    return round(ts.year + (ts - start) / (end - start), 6)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = co2.load_pandas().data
    write(out / "co2.csv", [(decimal_year(t), v) for t, v in zip(c.index, c["co2"])])
    s = sunspots.load_pandas().data
    write(out / "sunspots.csv", [(float(y), v) for y, v in zip(s["YEAR"], s["SUNACTIVITY"])])
    e = elnino.load_pandas().data
    rows = []
    for _, r in e.iterrows():
        for i, m in enumerate(MONTHS):
            rows.append((round(float(r["YEAR"]) + i / 12, 6), r[m]))
    write(out / "elnino.csv", rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/real")
