//! An id list bound as one query parameter in either dialect, so a query that takes a list
//! binds it the same way for both (the SQL side is `in_list(N)` / `list_rows(N)` of
//! [`sql!`](crate::sql!)).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};

/// A list of ids (text or integers): a PostgreSQL array, or on SQLite (which cannot bind
/// arrays) the JSON array `json_each` reads.
#[derive(Debug, Clone, Copy)]
pub struct List<'a, T>(pub &'a [T]);

impl<T: PgHasArrayType> Type<Postgres> for List<'_, T> {
    fn type_info() -> PgTypeInfo {
        T::array_type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        T::array_compatible(ty)
    }
}

impl<'q, T> Encode<'q, Postgres> for List<'_, T>
where
    T: Encode<'q, Postgres> + Type<Postgres>,
{
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        self.0.encode_by_ref(buf)
    }
}

impl<T: serde::Serialize> Type<Sqlite> for List<'_, T> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<T: serde::Serialize> Encode<'_, Sqlite> for List<'_, T> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'_, Sqlite>>::encode(serde_json::to_string(self.0)?, buf)
    }
}
