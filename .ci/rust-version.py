"""The workspace's declared rust-version is true: no dependency needs a newer
Rust, and the toolchain building it is at least that old version.

    cargo metadata --format-version 1 | python3 .ci/rust-version.py "$(rustc --version)"
"""
import json
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")[:3] + ["0"] * (3 - len(text.split("."))))


metadata = json.load(sys.stdin)
ours = {p["id"] for p in metadata["packages"] if p["source"] is None}
declared = {version(p["rust_version"]) for p in metadata["packages"] if p["id"] in ours and p.get("rust_version")}
if len(declared) != 1:
    sys.exit(f"every crate of the workspace declares one rust-version; found {sorted(declared)}")
(workspace,) = declared
needs = max(
    ((version(p["rust_version"]), p["name"]) for p in metadata["packages"] if p.get("rust_version") and p["id"] not in ours),
    default=((0, 0, 0), "nothing"),
)
toolchain = version(sys.argv[1].split()[1].split("-")[0])
show = lambda v: ".".join(map(str, v))
if needs[0] > workspace:
    sys.exit(f"rust-version {show(workspace)} is too old: {needs[1]} needs {show(needs[0])}")
if toolchain < workspace:
    sys.exit(f"rustc {show(toolchain)} is older than the declared rust-version {show(workspace)}")
print(f"rust-version {show(workspace)}: dependencies need at most {show(needs[0])} ({needs[1]}); rustc {show(toolchain)}")
