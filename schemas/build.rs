//! Compiles `proto/` with prost, using the protoc shipped by `protoc-bin-vendored`
//! so that a fresh machine needs no system protobuf compiler.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/prism/v1/jobs.proto",
        "proto/prism/v1/events.proto",
        "proto/prism/v1/store.proto",
        "proto/prism/v1/cluster.proto",
        "proto/prism/v1/services.proto",
        "proto/prism/v1/connections.proto",
        "proto/prism/v1/previews.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    prost_build::Config::new()
        .protoc_executable(protoc_bin_vendored::protoc_bin_path()?)
        // `prost::Name` gives every message its full type name for the message-type header.
        .enable_type_names()
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
