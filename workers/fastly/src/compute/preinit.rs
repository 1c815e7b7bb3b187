//! The pre-initialisation export `wizer.initialize` (see the crate docs).

/// Called once by `wasmtime wizer` at build time; the memory it leaves is the snapshot every
/// instance starts from.
#[export_name = "wizer.initialize"]
pub extern "C" fn wizer_initialize() {
    // A wasip1 command runs its static constructors from `_start` only, and tract registers
    // its kernels (the `inventory` crate) in them: without this call no model loads. `_start`
    // runs them again in every instance; registering twice is harmless.
    // SAFETY: called once, before anything else in the module, on its only thread.
    unsafe { __wasm_call_ctors() };
    if let Ok(mut slot) = super::PREPARED.lock() {
        slot.get_or_insert_with(super::EmbeddedModels::load);
    }
    // libphonenumber's metadata and the redactor's patterns, every default region's phone
    // patterns included, read once into the snapshot rather than by each request.
    triage_core::redact::Redactor::default().warm_every_region();
    // Loading reads environment variables (tokenizers does), so wasi-libc now holds the
    // build machine's environment; forget it, so the snapshot does not carry it.
    // SAFETY: no other thread exists, and nothing holds a pointer into `environ`.
    unsafe { __wasilibc_deinitialize_environ() };
}

extern "C" {
    /// The linker's function running every static constructor.
    fn __wasm_call_ctors();
    /// wasi-libc: drop the cached environment so the next read asks the host again.
    fn __wasilibc_deinitialize_environ();
}
