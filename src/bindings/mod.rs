//! The Python extension module `fastrouter._fastrouter`. Thin: convert arguments,
//! release the GIL, call the core, convert back. Users import `fastrouter`, never this.

mod client;
mod errors;
mod mock;
mod runtime;
mod stream;

use pyo3::prelude::*;

#[pymodule]
fn _fastrouter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    runtime::init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("USER_AGENT", crate::transport::USER_AGENT)?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<mock::NativeMockServer>()?;
    m.add_class::<stream::NativeStream>()?;
    m.add(
        "__all__",
        [
            "NativeClient",
            "NativeMockServer",
            "NativeStream",
            "USER_AGENT",
            "__version__",
        ],
    )?;
    Ok(())
}
