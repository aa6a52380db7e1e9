//! PostgreSQL as a source and a target. Reads stream `COPY (SELECT …) TO STDOUT`
//! in CSV into Arrow batches, with later stages' filters, columns and limits in
//! the SELECT ([`read`], [`pushdown`]); writes stream `COPY … FROM STDIN` into a
//! session's temporary table and move the rows into the target in one
//! transaction at commit ([`write`]).
mod literals;
mod pushdown;
mod read;
mod types;
mod write;

pub use literals::bind_parameters;
pub use read::PostgresTable;
pub use write::{StagedTable, TableTarget};
