//! Configurations checked once, when they are built: a [`Validate`] type `T` (as written in
//! files, serde-friendly) becomes a [`Valid<T>`] only through its checks, and training takes
//! the `Valid` one, so that no bad value is discovered deep inside a loop. (The pattern of
//! linfa's `ParamGuard`.)

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;

/// A configuration with range checks.
pub trait Validate {
    /// Checks every value.
    ///
    /// # Errors
    /// [`crate::ModelError::Config`] naming the first field out of range.
    fn validate(&self) -> Result<()>;
}

/// A `T` that passed [`Validate::validate`]. It reads as a `T` (`Deref`), serialises exactly as
/// one, and deserialising it runs the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid<T>(T);

impl<T: Validate> Valid<T> {
    /// Checks `value`.
    ///
    /// # Errors
    /// Those of [`Validate::validate`].
    pub fn new(value: T) -> Result<Self> {
        value.validate()?;
        Ok(Self(value))
    }
}

impl<T> Valid<T> {
    /// The unchecked value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Valid<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Validate> Deserialize<'de> for Valid<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(T::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
