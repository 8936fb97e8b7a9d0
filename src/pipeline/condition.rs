//! `if` conditions (not yet implemented).

use crate::document::Document;

/// A compiled `if` expression.
#[derive(Debug, Clone)]
pub struct Condition {
    _private: (),
}

impl Condition {
    /// Parses and type-checks an expression.
    pub fn compile(src: &str) -> Result<Self, String> {
        Err(format!("conditions are not implemented yet: `{src}`"))
    }

    /// Evaluates against a document.
    pub fn eval(&self, _doc: &Document) -> bool {
        false
    }
}
