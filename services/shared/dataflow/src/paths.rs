//! Every file a dataflow touches stays inside its connection's root.
use std::path::{Component, Path, PathBuf};

/// Joins `relative` under `root`, refusing absolute paths and `..`, so no document
/// or parameter value can reach outside the connection.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, String> {
    if relative.is_empty() {
        return Err("path is empty".into());
    }
    let path = Path::new(relative);
    let mut resolved = root.to_path_buf();
    for component in path.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("path must not contain '..'".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("path must be relative to the connection root".into());
            }
        }
    }
    if resolved == root {
        return Err("path names the connection root itself".into());
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/data");
        assert_eq!(
            resolve(root, "a/b.csv").unwrap(),
            Path::new("/data/a/b.csv")
        );
        assert_eq!(resolve(root, "./a.csv").unwrap(), Path::new("/data/a.csv"));
        assert!(resolve(root, "../etc/passwd").is_err());
        assert!(resolve(root, "a/../../b").is_err());
        assert!(resolve(root, "/etc/passwd").is_err());
        assert!(resolve(root, "").is_err());
        assert!(resolve(root, ".").is_err());
    }
}
