//! Dry run as data. A value only a real call can produce (a digest, a
//! revision, a deployment id, what ECS has now) is `Produced::Value` after a
//! real call and `Produced::Planned` in a dry run: a description shown in the
//! plan as `<…>`. Code that acts on a value takes it out with `real()`, so a
//! dry run's description can never reach a real call.

use std::fmt;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced<T> {
    Value(T),
    /// What the value will be, in words.
    Planned(String),
}

impl<T> Produced<T> {
    pub fn planned(what: impl Into<String>) -> Self {
        Produced::Planned(what.into())
    }

    pub fn as_value(&self) -> Option<&T> {
        match self {
            Produced::Value(v) => Some(v),
            Produced::Planned(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Produced<U> {
        match self {
            Produced::Value(v) => Produced::Value(f(v)),
            Produced::Planned(what) => Produced::Planned(what),
        }
    }

    /// The value, for code that acts on it.
    pub fn real(self) -> Result<T> {
        match self {
            Produced::Value(v) => Ok(v),
            Produced::Planned(what) => {
                bail!("internal error: a dry run's planned value ({what}) reached a real call")
            }
        }
    }
}

impl<T: fmt::Display> fmt::Display for Produced<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Produced::Value(v) => v.fmt(f),
            Produced::Planned(what) => write!(f, "<{what}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_value_shows_as_its_description_and_never_acts() {
        let digest: Produced<String> = Produced::planned("digest docker push reports");
        assert_eq!(digest.to_string(), "<digest docker push reports>");
        let pinned = digest.map(|d| format!("repo@{d}"));
        assert!(pinned.clone().real().is_err());
        assert_eq!(pinned.as_value(), None);
        assert_eq!(Produced::Value(3).real().unwrap(), 3);
    }
}
