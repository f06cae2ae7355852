//! Elman recurrent networks on Burn: definition, training and weight export.
//!
//! Burn tensors stay inside this crate; everything that leaves it is a
//! `nalgebra::DMatrix<f64>` (see [`RnnWeights`]).

pub mod weights;

pub use weights::{Activation, Mode, RnnWeights};
