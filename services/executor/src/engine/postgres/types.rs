//! PostgreSQL column types as Arrow types, and how each column is selected so
//! that its CSV text parses as that Arrow type.
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use tokio_postgres::types::Type;

use super::read::quote_ident;

/// A column read from PostgreSQL: its name, its Arrow type, and the expression
/// that selects it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub data_type: DataType,
    select: Select,
}

#[derive(Debug, Clone, Copy)]
enum Select {
    /// As PostgreSQL prints it.
    Plain,
    /// Printed as text (`true`/`false` for booleans; JSON, UUIDs and every type
    /// Arrow has no match for, as text).
    Text,
    /// A `timestamptz` in RFC 3339, UTC.
    Instant,
}

impl Column {
    pub fn of(name: &str, pg: &Type) -> Column {
        let (data_type, select) = match *pg {
            Type::BOOL => (DataType::Boolean, Select::Text),
            Type::INT2 => (DataType::Int16, Select::Plain),
            Type::INT4 => (DataType::Int32, Select::Plain),
            Type::INT8 | Type::OID => (DataType::Int64, Select::Plain),
            Type::FLOAT4 => (DataType::Float32, Select::Plain),
            // NUMERIC has no fixed scale to map to a decimal: read as a double.
            Type::FLOAT8 | Type::NUMERIC => (DataType::Float64, Select::Plain),
            Type::DATE => (DataType::Date32, Select::Plain),
            Type::TIMESTAMP => (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                Select::Plain,
            ),
            Type::TIMESTAMPTZ => (
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                Select::Instant,
            ),
            _ => (DataType::Utf8, Select::Text),
        };
        Column {
            name: name.to_string(),
            data_type,
            select,
        }
    }

    /// The column in a select list, named as itself.
    pub fn select(&self) -> String {
        let column = format!("t.{}", quote_ident(&self.name));
        let name = quote_ident(&self.name);
        match self.select {
            Select::Plain => column,
            Select::Text => format!("{column}::text AS {name}"),
            Select::Instant => format!(
                "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS {name}"
            ),
        }
    }
}

/// The PostgreSQL type a new table's column gets for an Arrow type.
pub(crate) fn sql_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 => "numeric",
        DataType::Float16 | DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(_, Some(_)) => "timestamptz",
        DataType::Timestamp(_, None) => "timestamp",
        _ => "text",
    }
}
