//! What a text column of the reference's schema can hold on every backend:
//! at most its width in characters, no NUL (PostgreSQL refuses it), and
//! only characters of the Basic Multilingual Plane (the reference's MariaDB
//! tables are `utf8`, three bytes per character at most: a 4-byte character
//! fails writes, and comparisons with it fail reads).
//!
//! Writers validate at the edge with [`check`] (a message naming the
//! field); lookups by a value no row can hold answer "not found" without
//! asking the database ([`storable`]).

/// Why a value cannot be stored in a column of `width` characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstorable {
    TooLong,
    Nul,
    OutsideBmp,
}

/// Whether `value` fits a text column of `width` characters.
pub fn check(value: &str, width: usize) -> Result<(), Unstorable> {
    if value.contains('\0') {
        return Err(Unstorable::Nul);
    }
    if value.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(Unstorable::OutsideBmp);
    }
    if value.chars().count() > width {
        return Err(Unstorable::TooLong);
    }
    Ok(())
}

/// Whether some row could hold `value` in a column of `width` characters.
pub fn storable(value: &str, width: usize) -> bool {
    check(value, width).is_ok()
}

/// Column widths of the reference's schema that lookups use.
pub mod width {
    /// Ids: `pods.pod_id`, `async_jobs.id`, `resource_routings.bottom_id`,
    /// `pod_id`, `project_id`, job `type` and `status`.
    pub const ID: usize = 36;
    /// `resource_routings.top_id`, `async_jobs.resource_id`.
    pub const TOP_ID: usize = 127;
    /// `resource_routings.resource_type`.
    pub const RESOURCE_TYPE: usize = 64;
    /// `pods.region_name`, `az_name`, `pod_az_name`, `dc_name`.
    pub const NAME: usize = 255;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_every_backend_can_store() {
        assert_eq!(check("RegionOne", 255), Ok(()));
        assert_eq!(check("é中", 2), Ok(()), "BMP, counted in characters");
        assert_eq!(check("abc", 2), Err(Unstorable::TooLong));
        assert_eq!(check("a\0b", 36), Err(Unstorable::Nul));
        assert_eq!(check("pod🙂", 36), Err(Unstorable::OutsideBmp));
        assert!(!storable("🙂", 255));
    }
}
