//! Files read beneath a connection's root by descriptor, never by name twice.
//!
//! Checking where a path leads and then handing the path to DataFusion leaves a
//! window: a directory swapped for a symlink between the check and the open leads
//! the open outside the connection. Here the file is opened once, walking from an
//! opened file root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the
//! kernel refuses any step (`..`, an absolute or escaping symlink, a swap made at
//! any moment) that leaves the directory it started from. A symlink that stays
//! inside the connection still works, as it always has. DataFusion then reads
//! the opened file through [`OpenedFile`], an object store of that one file, with
//! positional reads: nothing resolves the name again.
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use datafusion::prelude::{DataFrame, SessionContext};
use prism_dataflow::Format;

use crate::engine::{EngineError, dataflow_error, extension_of, io_error, read_location};

/// `named` (its connection's `root` joined with a path free of `..` and absolute
/// parts) as a frame, opened beneath the root ([`open_beneath`]) and read by
/// DataFusion from that opened file alone.
pub(crate) async fn read_beneath(
    ctx: &SessionContext,
    file_roots: &[PathBuf],
    root: &Path,
    named: &Path,
    format: Format,
    text: bool,
) -> Result<DataFrame, EngineError> {
    let relative = named.strip_prefix(root).unwrap_or(named);
    let file = open_beneath(file_roots, root, relative)?;
    // A name of its own, with the extension kept: DataFusion picks files by it.
    let extension = extension_of(named);
    let store = uuid::Uuid::new_v4().simple().to_string();
    let url = url::Url::parse(&format!("prism-file://{store}")).map_err(io_error)?;
    let opened = OpenedFile::new(
        file,
        &format!("file{extension}"),
        named.display().to_string(),
    );
    ctx.register_object_store(&url, Arc::new(opened));
    let location = format!("prism-file://{store}/file{extension}");
    read_location(ctx, &location, &extension, format, text)
        .await
        .map_err(|e| dataflow_error(format!("cannot read {}: {e}", named.display())))
}

/// Bytes read per positional read when DataFusion streams the file.
const CHUNK: u64 = 1 << 20;
/// Bytes handed to DataFusion at a time: each read is passed on in slices of this
/// size. DataFusion's CSV and JSON decoders queue every piece they are handed and
/// return one batch (8,192 rows, some 250 KB of CSV) per piece: pieces larger than
/// a batch pile up, and 1 MB pieces held most of a 2 GB file in memory at once.
const SLICE: usize = 64 << 10;

const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// Opens `relative` (already free of `..` and absolute parts) beneath the
/// connection root `root`, which lies within one of `file_roots` (both canonical):
/// from the file root, by descriptor, every step beneath the one before.
pub(crate) fn open_beneath(
    file_roots: &[PathBuf],
    root: &Path,
    relative: &Path,
) -> Result<File, EngineError> {
    let shown = || root.join(relative).display().to_string();
    let file_root = file_roots
        .iter()
        .find(|r| root.starts_with(r))
        .ok_or_else(|| dataflow_error(format!("{} lies outside the file roots", root.display())))?;
    let within = root.strip_prefix(file_root).unwrap_or(Path::new(""));
    let directory = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The file root is the operator's setting: it is the one name opened as named.
    let top = rustix::fs::open(file_root, directory, Mode::empty())
        .map_err(|e| io_error(format!("file root {}: {e}", file_root.display())))?;
    let connection = if within.as_os_str().is_empty() {
        top
    } else {
        rustix::fs::openat2(&top, within, directory, Mode::empty(), BENEATH)
            .map_err(|e| refused(&root.display().to_string(), e))?
    };
    let opened = rustix::fs::openat2(
        &connection,
        relative,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        BENEATH,
    )
    .map_err(|e| refused(&shown(), e))?;
    let file = File::from(opened);
    let kind = file
        .metadata()
        .map_err(|e| io_error(format!("{}: {e}", shown())))?;
    if !kind.is_file() {
        return Err(dataflow_error(format!("{} is not a regular file", shown())));
    }
    Ok(file)
}

fn refused(shown: &str, error: rustix::io::Errno) -> EngineError {
    match error {
        // What RESOLVE_BENEATH answers for a step that would leave the directory.
        rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => {
            dataflow_error(format!("{shown} leads outside the connection root"))
        }
        other => dataflow_error(format!("cannot open {shown}: {other}")),
    }
}

/// One opened file as an object store holding a single object, `name`.
struct OpenedFile {
    file: Arc<File>,
    name: ObjectPath,
    shown: String,
}

impl OpenedFile {
    fn new(file: File, name: &str, shown: String) -> OpenedFile {
        OpenedFile {
            file: Arc::new(file),
            name: ObjectPath::from(name),
            shown,
        }
    }

    fn meta(&self) -> object_store::Result<ObjectMeta> {
        let metadata = self.file.metadata().map_err(|e| self.failed(e))?;
        let modified = metadata
            .modified()
            .map(chrono::DateTime::<chrono::Utc>::from)
            .unwrap_or_default();
        Ok(ObjectMeta {
            location: self.name.clone(),
            last_modified: modified,
            size: metadata.len(),
            e_tag: None,
            version: None,
        })
    }

    fn failed(&self, error: std::io::Error) -> object_store::Error {
        object_store::Error::Generic {
            store: "opened file",
            source: Box::new(error),
        }
    }

    fn check(&self, location: &ObjectPath) -> object_store::Result<()> {
        if *location == self.name {
            return Ok(());
        }
        Err(object_store::Error::NotFound {
            path: location.to_string(),
            source: format!("only {} is open", self.name).into(),
        })
    }

    /// `range` of the file, read positionally in chunks off the async workers and
    /// handed on in slices of [`SLICE`] (views of the chunk, not copies).
    fn read(&self, range: Range<u64>) -> BoxStream<'static, object_store::Result<Bytes>> {
        let file = self.file.clone();
        let slices = std::collections::VecDeque::new();
        stream::unfold((range.start, slices), move |(at, mut slices)| {
            let file = file.clone();
            let end = range.end;
            async move {
                if let Some(slice) = slices.pop_front() {
                    return Some((Ok(slice), (at, slices)));
                }
                if at >= end {
                    return None;
                }
                let len = (end - at).min(CHUNK) as usize;
                let read = tokio::task::spawn_blocking(move || {
                    let mut buffer = vec![0; len];
                    file.read_exact_at(&mut buffer, at).map(|()| buffer)
                })
                .await;
                let chunk = match read {
                    Ok(Ok(buffer)) => Bytes::from(buffer),
                    Ok(Err(error)) => return Some((Err(opened_file_error(error)), (end, slices))),
                    Err(error) => return Some((Err(opened_file_error(error)), (end, slices))),
                };
                let mut from = 0;
                while from < chunk.len() {
                    let to = (from + SLICE).min(chunk.len());
                    slices.push_back(chunk.slice(from..to));
                    from = to;
                }
                let first = slices.pop_front().map(Ok)?;
                Some((first, (at + len as u64, slices)))
            }
        })
        .boxed()
    }

    fn unsupported() -> object_store::Error {
        object_store::Error::NotSupported {
            source: "an opened file is read only".into(),
        }
    }
}

fn opened_file_error(error: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "opened file",
        source: Box::new(error),
    }
}

impl fmt::Display for OpenedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenedFile({})", self.shown)
    }
}

impl fmt::Debug for OpenedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[async_trait]
impl ObjectStore for OpenedFile {
    async fn put_opts(
        &self,
        _location: &ObjectPath,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(Self::unsupported())
    }

    async fn put_multipart_opts(
        &self,
        _location: &ObjectPath,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(Self::unsupported())
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check(location)?;
        let meta = self.meta()?;
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(range) => range
                .as_range(meta.size)
                .map_err(|e| object_store::Error::Generic {
                    store: "opened file",
                    source: Box::new(e),
                })?,
            None => 0..meta.size,
        };
        let payload = if options.head {
            stream::empty().boxed()
        } else {
            self.read(range.clone())
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        locations.map(|_| Err(OpenedFile::unsupported())).boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let matches = prefix.is_none_or(|p| self.name.prefix_matches(p) || *p == self.name);
        let found = if matches {
            vec![self.meta()]
        } else {
            Vec::new()
        };
        stream::iter(found).boxed()
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        let objects = self.list(prefix).collect::<Vec<_>>().await;
        Ok(ListResult {
            common_prefixes: Vec::new(),
            objects: objects.into_iter().collect::<object_store::Result<_>>()?,
        })
    }

    async fn copy_opts(
        &self,
        _from: &ObjectPath,
        _to: &ObjectPath,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(Self::unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every piece DataFusion is handed is at most [`SLICE`], whatever the range,
    /// and the pieces together are the range's bytes.
    #[tokio::test]
    async fn a_range_is_handed_on_in_slices() {
        let mut file = tempfile::tempfile().unwrap();
        let content: Vec<u8> = (0..(3 * CHUNK as usize + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        file.write_all(&content).unwrap();
        let opened = OpenedFile::new(file, "file.csv", "file.csv".into());
        for range in [0..content.len() as u64, 7..(2 * CHUNK + 99), 5..6] {
            let pieces: Vec<Bytes> = opened
                .read(range.clone())
                .map(|piece| piece.unwrap())
                .collect()
                .await;
            assert!(pieces.iter().all(|p| !p.is_empty() && p.len() <= SLICE));
            let joined: Vec<u8> = pieces.concat();
            assert_eq!(joined, content[range.start as usize..range.end as usize]);
        }
    }
}
