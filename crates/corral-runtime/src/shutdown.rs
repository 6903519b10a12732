//! The one shutdown signal: SIGTERM or SIGINT (Ctrl-C) cancels a token,
//! and every part of a process stops on that token or on a child of it.

use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGTERM or SIGINT. The signal handlers are in place
/// when this returns (so a signal that comes at once is not the default
/// action, an exit); call it once per process, inside the runtime.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let signalled = signal();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = signalled => {
                tracing::info!("shutdown signal received");
                cancel.cancel();
            }
            () = cancel.cancelled() => {}
        }
    });
    token
}

/// Resolves on SIGTERM or SIGINT; the handlers are installed before it
/// returns.
#[cfg(unix)]
fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| {
        let listening = signal(kind);
        if let Err(e) = &listening {
            tracing::warn!(error = %e, "cannot listen for {name}");
        }
        async move {
            match listening {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    let term = listen(SignalKind::terminate(), "SIGTERM");
    let interrupt = listen(SignalKind::interrupt(), "SIGINT");
    async move {
        tokio::select! {
            () = term => {}
            () = interrupt => {}
        }
    }
}

#[cfg(not(unix))]
fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
