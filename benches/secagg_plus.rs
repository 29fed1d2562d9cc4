//! SecAgg+ costs against n and the dropout rate (being written).
#![allow(missing_docs)]
fn main() {}
