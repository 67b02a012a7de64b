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
    // After os.fork() (gunicorn --preload, Celery prefork, multiprocessing) the child must
    // not wait on the parent's runtime threads: rebuild lazily instead.
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item(
        "after_in_child",
        wrap_pyfunction!(runtime::after_fork_in_child, m)?,
    )?;
    m.py()
        .import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
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
