//! User namespace id maps, written by the child itself: a single line mapping the caller's own
//! id is the one mapping an unprivileged process may write (user_namespaces(7)), and it needs
//! `setgroups` denied first.

use super::report::{SetupError, Stage};
use crate::plan::IdMap;

pub fn write(ids: &IdMap) -> Result<(), SetupError> {
    let put = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| SetupError::io(Stage::IdMap, &e, format!("/proc/self/{file}")))
    };
    put("setgroups", "deny".into())?;
    put(
        "uid_map",
        format!("{} {} 1\n", ids.inside_uid, ids.outside_uid),
    )?;
    put(
        "gid_map",
        format!("{} {} 1\n", ids.inside_gid, ids.outside_gid),
    )?;
    Ok(())
}
