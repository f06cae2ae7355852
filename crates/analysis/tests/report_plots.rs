//! Plots and reports are written completely and read back.

use std::path::Path;

use dynrec_analysis::plots::{
    Floor, PredictionTrace, SingularValues, Sweep, SweepPoint, SweepSeries, eigen_sets,
    eigenvalue_plot, loss_plot, markov_plot, prediction_plot, singular_value_plot, sweep_plot,
};
use dynrec_analysis::{Activation, AnalysisConfig, Report, analyse};
use nalgebra::DMatrix;
use serde::Serialize;

mod common;

/// A predictor network equal to the Kalman predictor in another basis, with a baseline.
fn example_analysis() -> dynrec_analysis::Analysis {
    let truth = common::oscillator_with_gain();
    let t = DMatrix::from_row_slice(2, 2, &[1.2, 0.3, -0.4, 0.8]);
    let weights = common::predictor_network(&truth, &t, Activation::Linear);
    let mut result =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    result
        .add_baseline(
            "n4sid",
            &DMatrix::from_row_slice(2, 2, &[0.89, -0.21, 0.2, 0.9]),
        )
        .expect("new name");
    result
}

fn assert_png_and_svg(png: &Path, svg: &Path, title_fragment: &str) {
    let bytes = std::fs::read(png).expect("png written");
    assert!(
        bytes.len() > 1000,
        "{} is only {} bytes",
        png.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        png.display()
    );
    let text = std::fs::read_to_string(svg).expect("svg written");
    assert!(text.starts_with("<svg"), "{} is an SVG", svg.display());
    assert!(
        text.contains(title_fragment),
        "{} lacks its title",
        svg.display()
    );
}

/// Every plot is written as a non-empty PNG (PNG signature) and an SVG carrying its title,
/// into a folder that did not exist, with no temporary file left behind.
#[test]
fn every_plot_file_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("nested").join("plots");
    let analysis = example_analysis();

    let f = eigenvalue_plot(&out, "eigenvalues", "Eigenvalues", &eigen_sets(&analysis))
        .expect("eigenvalue plot");
    assert_png_and_svg(&f.png, &f.svg, "Eigenvalues");
    assert_eq!(f.png_name(), "eigenvalues.png");

    let train: Vec<f64> = (0..50)
        .map(|e| 0.3 * (-0.1 * f64::from(e)).exp() + 0.01)
        .collect();
    let val: Vec<f64> = train.iter().map(|x| x * 1.1).collect();
    let floor = Floor {
        value: 0.0105,
        label: "true system's output error (floor)",
    };
    let f = loss_plot(&out, "loss", &train, &val, Some(floor)).expect("loss plot");
    assert_png_and_svg(&f.png, &f.svg, "Training and validation loss");
    assert_png_and_svg(&f.png, &f.svg, "output error (floor)");

    let values = [12.0, 9.0, 0.04, 0.03, 0.0];
    let sv = SingularValues {
        values: &values,
        order: 2,
        chosen_by: "the true order",
    };
    let f = singular_value_plot(&out, "singular_values", &sv).expect("singular value plot");
    assert_png_and_svg(&f.png, &f.svg, "singular values");
    assert_png_and_svg(&f.png, &f.svg, "chosen order: the true order");

    let measured: Vec<f64> = (0..100).map(|k| (0.2 * f64::from(k)).sin()).collect();
    let trace = PredictionTrace {
        rnn: measured.iter().map(|x| 0.9 * x).collect(),
        kalman: Some(measured.iter().map(|x| 0.95 * x).collect()),
        measured,
        channel: "z1".to_string(),
        unit: "m".to_string(),
    };
    let f = prediction_plot(&out, "prediction", &trace).expect("prediction plot");
    assert_png_and_svg(&f.png, &f.svg, "Held-out sequence");

    let markov = analysis.markov.as_ref().expect("compared");
    let f = markov_plot(&out, "markov", markov).expect("markov plot");
    assert_png_and_svg(&f.png, &f.svg, "Markov parameters");

    let sweep = Sweep {
        title: "Eigen error vs sequence count".to_string(),
        x_label: "training sequences".to_string(),
        y_label: "eigen error".to_string(),
        log_x: true,
        log_y: true,
        series: vec![SweepSeries {
            label: "RNN".to_string(),
            points: [10.0, 100.0, 1000.0]
                .iter()
                .map(|&x| SweepPoint {
                    x,
                    values: vec![1.0 / x, 2.0 / x, 0.5 / x],
                })
                .collect(),
        }],
    };
    let f = sweep_plot(&out, "sweep", &sweep).expect("sweep plot");
    assert_png_and_svg(&f.png, &f.svg, "Eigen error vs sequence count");

    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("listing")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[derive(Serialize)]
struct Spec {
    name: &'static str,
    seed: u64,
    hidden: usize,
}

/// Equal up to the JSON parser's last-digit rounding (serde_json without `float_roundtrip`
/// may be one ulp off; printing is exact, so 4 ulp is a strict bound).
fn same(x: f64, y: f64) -> bool {
    (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
}

/// `report.json` parses back into the same report, and as plain JSON it has the fields of
/// docs/formats.md: `spec` (with the seed), `eigenvalues.{truth, rnn, recurrent, <baseline>}` as
/// `[[re, im], ...]` equal to the analysis's, and `eigen_error.{rnn, <baseline>}` as numbers.
/// `report.md` opens with the verdict, links the plots relatively and ends with the spec.
#[test]
fn report_json_has_design_fields_and_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let analysis = example_analysis();
    let spec = Spec {
        name: "predictor",
        seed: 42,
        hidden: 2,
    };
    let report = Report::new(&spec, analysis.clone())
        .expect("report")
        .metric("validation_mse", 0.0123)
        .metric("diverged", f64::NAN)
        .plot("Eigenvalues", "eigenvalues.png");
    let out = dir.path().join("results").join("predictor");
    let files = report.write(&out).expect("written");

    let back = Report::read(&files.json).expect("parses back");
    assert_eq!(back.verdict, report.verdict);
    assert_eq!(
        back.eigenvalues.keys().collect::<Vec<_>>(),
        report.eigenvalues.keys().collect::<Vec<_>>()
    );
    for (key, values) in &report.eigenvalues {
        for (x, y) in values.iter().zip(&back.eigenvalues[key]) {
            assert!(same(x[0], y[0]) && same(x[1], y[1]), "eigenvalues.{key}");
        }
    }
    assert_eq!(back.eigen_error.len(), report.eigen_error.len());
    for (key, value) in &report.eigen_error {
        assert!(same(*value, back.eigen_error[key]), "eigen_error.{key}");
    }
    assert_eq!(back.metrics.len(), 2);
    assert_eq!(back.analysis.rnn.len(), analysis.rnn.len());

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).expect("read")).expect("json");
    assert_eq!(json["spec"]["seed"], 42);
    assert_eq!(json["spec"]["name"], "predictor");
    let close = |x: &[[f64; 2]], y: &[[f64; 2]]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(a, b)| same(a[0], b[0]) && same(a[1], b[1]))
    };
    let pairs = |key: &str| -> Vec<[f64; 2]> {
        serde_json::from_value(json["eigenvalues"][key].clone())
            .unwrap_or_else(|e| panic!("eigenvalues.{key}: {e}"))
    };
    let expect = |values: &[dynrec_analysis::C64]| -> Vec<[f64; 2]> {
        values.iter().map(|z| [z.re, z.im]).collect()
    };
    for (key, values) in [
        ("truth", &analysis.truth),
        ("rnn", &analysis.rnn),
        ("recurrent", &analysis.recurrent),
        ("closed_loop", &analysis.closed_loop),
        ("n4sid", &analysis.baselines[0].eigenvalues),
    ] {
        assert!(close(&pairs(key), &expect(values)), "eigenvalues.{key}");
    }
    let rnn_error = json["eigen_error"]["rnn"].as_f64().expect("number");
    assert!(same(rnn_error, analysis.eigen_error().expect("truth")));
    let baseline_error = json["eigen_error"]["n4sid"].as_f64().expect("number");
    assert!(baseline_error > 0.0);
    assert!(json["metrics"]["diverged"].is_null());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.json)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "results are readable by everyone");
    }

    let md = std::fs::read_to_string(&files.markdown).expect("markdown");
    let verdict_at = md.find(&report.verdict).expect("verdict in report.md");
    let table_at = md.find("| set | λ |").expect("eigenvalue table");
    let spec_at = md.find("## Spec").expect("spec section");
    assert!(verdict_at < table_at && table_at < spec_at);
    assert!(md.contains("](eigenvalues.png)"));
    assert!(md[spec_at..].contains("\"seed\": 42"));
}
