//! The simulator's output for linear systems is frozen: committed results depend on its random
//! stream. The fingerprints below were recorded from the linear-only simulator (commit bb17e87)
//! before `simulate` was generalised to any [`Dynamics`](dynrec_truth::Dynamics).

mod common;

use dynrec_truth::{Dataset, InputSignal, SimulationConfig, simulate};

/// FNV-1a over the bit patterns of every number in the data set (NaN = missing included).
fn fingerprint(data: &Dataset) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: f64| {
        for byte in v.to_bits().to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for seq in &data.sequences {
        seq.t.iter().for_each(|&v| eat(v));
        seq.inputs.iter().for_each(|&v| eat(v));
        seq.measurements.iter().for_each(|&v| eat(v));
        seq.states.iter().flatten().for_each(|&v| eat(v));
    }
    hash
}

fn cases() -> Vec<(&'static str, Dataset)> {
    let three = common::three_state();
    let rotation = common::rotation();
    vec![
        (
            "three_state white missing",
            simulate(
                &three,
                &SimulationConfig {
                    sequences: 3,
                    steps: 50,
                    input: InputSignal::White { std: 0.7 },
                    missing_fraction: 0.1,
                    seed: 7,
                },
            )
            .expect("valid simulation"),
        ),
        (
            "rotation prbs",
            simulate(
                &rotation,
                &SimulationConfig {
                    sequences: 2,
                    steps: 40,
                    input: InputSignal::Prbs {
                        amplitude: 1.5,
                        hold: 3,
                    },
                    missing_fraction: 0.0,
                    seed: 11,
                },
            )
            .expect("valid simulation"),
        ),
        (
            "rotation sines",
            simulate(
                &rotation,
                &SimulationConfig {
                    sequences: 1,
                    steps: 60,
                    input: InputSignal::Sines {
                        amplitude: 0.5,
                        periods: vec![13.0, 5.0],
                    },
                    missing_fraction: 0.0,
                    seed: 3,
                },
            )
            .expect("valid simulation"),
        ),
    ]
}

/// Every linear simulation reproduces the recorded numbers bit for bit.
#[test]
fn linear_simulation_is_bit_identical_to_the_recorded_stream() {
    let expected = [
        (
            "three_state white missing",
            0x1175_afbe_086c_67ea_u64,
            -1.619_938_392_008_715_4,
            -1.299_447_042_556_722,
        ),
        (
            "rotation prbs",
            0x31bc_0a17_6fe4_3974,
            5.855_781_779_901_377e-1,
            -6.652_926_820_252_961,
        ),
        (
            "rotation sines",
            0xc774_b116_7ade_523f,
            3.738_616_224_659_913_6e-1,
            1.614_060_352_190_668,
        ),
    ];
    for ((name, data), (expected_name, hash, z01, x_last)) in cases().into_iter().zip(expected) {
        assert_eq!(name, expected_name);
        let s = &data.sequences[0];
        assert_eq!(
            s.measurements[(0, 1)].to_bits(),
            f64::to_bits(z01),
            "{name}: z[0,1]"
        );
        let x = s.states.as_ref().unwrap();
        assert_eq!(
            x[(0, s.len() - 1)].to_bits(),
            f64::to_bits(x_last),
            "{name}: last x"
        );
        assert_eq!(fingerprint(&data), hash, "{name}: fingerprint");
    }
}
