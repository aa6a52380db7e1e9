//! Every file a dataflow touches stays inside its connection's root, and every
//! connection's root inside the directories the operator allows.
use std::path::{Component, Path, PathBuf};

/// Why a path or a root is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path must not contain '..'")]
    Parent,
    #[error("path must be relative to the connection root")]
    Absolute,
    #[error("path names the connection root itself")]
    Root,
    #[error("must be an absolute directory path without '..'")]
    NotAbsoluteDirectory,
    #[error("no file roots are allowed on this node (PRISM_FILE_ROOTS)")]
    NoRoots,
    #[error("must lie within the allowed file roots: {allowed}")]
    OutsideRoots { allowed: String },
}

/// Joins `relative` under `root`, refusing absolute paths and `..`, so no document
/// or parameter value can name a place outside the connection. Symlinks are the
/// run-time business of the executor, which opens reads by descriptor beneath the
/// root (`openat2`), and of [`create_dirs_beneath`] for writes.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, PathError> {
    if relative.is_empty() {
        return Err(PathError::Empty);
    }
    let path = Path::new(relative);
    let mut resolved = root.to_path_buf();
    for component in path.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::Parent),
            Component::RootDir | Component::Prefix(_) => return Err(PathError::Absolute),
        }
    }
    if resolved == root {
        return Err(PathError::Root);
    }
    Ok(resolved)
}

/// Whether directory `dir` (absolute, without `..`) lies within one of `roots`
/// (absolute and canonical): by its name, and, if it exists, by where its symlinks
/// lead.
pub fn within_roots(roots: &[PathBuf], dir: &Path) -> Result<(), PathError> {
    let refused = || {
        let allowed: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        if allowed.is_empty() {
            PathError::NoRoots
        } else {
            PathError::OutsideRoots {
                allowed: allowed.join(", "),
            }
        }
    };
    if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
        return Err(PathError::NotAbsoluteDirectory);
    }
    let inside = |path: &Path| roots.iter().any(|root| path.starts_with(root));
    if !inside(dir) {
        return Err(refused());
    }
    match dir.canonicalize() {
        Ok(real) if !inside(&real) => Err(refused()),
        _ => Ok(()),
    }
}

/// Why an output directory could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirError {
    /// It would lead outside the root (a symlink): the same every time.
    Escapes(String),
    /// The file system said no (a file in the way, permissions): may pass.
    Io(String),
}

/// Creates the directories from `root` (canonical) down to `dir`, one component at
/// a time, refusing any component that is a symlink, so a write can never be
/// steered outside the root.
pub fn create_dirs_beneath(root: &Path, dir: &Path) -> Result<(), DirError> {
    let relative = dir.strip_prefix(root).map_err(|_| {
        DirError::Escapes(format!("{} is outside the connection root", dir.display()))
    })?;
    let mut current = root.to_path_buf();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            return Err(DirError::Escapes(format!(
                "{} is not a plain path",
                dir.display()
            )));
        };
        current.push(part);
        if std::fs::symlink_metadata(&current).is_err() {
            match std::fs::create_dir(&current) {
                // Another job may have made it meanwhile: checked below either way.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    let message = format!("cannot create {}: {e}", current.display());
                    return Err(DirError::Io(message));
                }
                _ => {}
            }
        }
        let meta = std::fs::symlink_metadata(&current)
            .map_err(|e| DirError::Io(format!("{}: {e}", current.display())))?;
        if meta.file_type().is_symlink() {
            let message = format!(
                "{} is a symlink; outputs never follow one",
                current.display()
            );
            return Err(DirError::Escapes(message));
        }
        if !meta.is_dir() {
            return Err(DirError::Io(format!(
                "{} is not a directory",
                current.display()
            )));
        }
    }
    Ok(())
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

    #[test]
    fn roots_are_checked_by_name_and_by_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let allowed = base.join("files");
        std::fs::create_dir_all(&allowed).unwrap();
        let roots = vec![allowed.clone()];
        assert!(within_roots(&roots, &allowed.join("team")).is_ok());
        assert!(within_roots(&roots, Path::new("/")).is_err());
        assert!(within_roots(&roots, &allowed.join("../elsewhere")).is_err());
        assert!(within_roots(&roots, Path::new("relative")).is_err());
        std::os::unix::fs::symlink("/etc", allowed.join("etc")).unwrap();
        assert!(
            within_roots(&roots, &allowed.join("etc")).is_err(),
            "a symlink out is refused"
        );
        assert!(within_roots(&[], &allowed).is_err());
    }

    #[test]
    fn symlinks_cannot_lead_writes_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("in.csv"), "a\n1\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd.csv")).unwrap();
        std::os::unix::fs::symlink("/tmp", root.join("out")).unwrap();
        assert!(create_dirs_beneath(&root, &root.join("a/b")).is_ok());
        assert!(root.join("a/b").is_dir());
        assert!(matches!(
            create_dirs_beneath(&root, &root.join("out/x")),
            Err(DirError::Escapes(_))
        ));
    }
}
