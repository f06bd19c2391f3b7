//! `containerd-shim-cerro-v1`: containerd runs it for runtime type
//! `io.cerro.v1`. Everything is in the library (`cerro_shim`).

fn main() {
    cerro_shim::run()
}
