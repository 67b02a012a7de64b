//! The Python extension module `fastrouter._fastrouter`. Thin: convert arguments,
//! release the GIL, call the core, convert back. Users import `fastrouter`, never this.

mod client;
mod completions;
mod errors;
mod mock;
mod runtime;
mod stream;

use pyo3::prelude::*;

#[pymodule]
fn _fastrouter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("USER_AGENT", crate::transport::USER_AGENT)?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<mock::NativeMockServer>()?;
    m.add_class::<stream::NativeStream>()?;
    m.add_class::<completions::CompletionQueue>()?;
    m.add_class::<completions::TaskHandle>()?;
    m.add(
        "__all__",
        [
            "NativeClient",
            "NativeMockServer",
            "NativeStream",
            "CompletionQueue",
            "TaskHandle",
            "USER_AGENT",
            "__version__",
        ],
    )?;
    Ok(())
}
