//! A network link to a real service that a test can cut and restore: a TCP
//! relay on its own port in front of PostgreSQL or Redis. Cutting it closes
//! every open connection and refuses new ones, which is what the processes
//! behind it see when the service restarts or the network drops; restoring
//! it listens on the same port again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A relay from `127.0.0.1:port` to a service.
pub struct Link {
    port: u16,
    target: SocketAddr,
    running: Mutex<Option<Running>>,
}

struct Running {
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Running {
    fn stop(self) {
        self.accept.abort();
        for c in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.abort();
        }
    }
}

impl Link {
    /// A link to `target` on a free port, open.
    pub async fn open(target: SocketAddr) -> Link {
        let link = Link::cut_to(target);
        link.restore().await;
        link
    }

    /// A link to `target` on a free port, cut: nothing listens there yet.
    pub fn cut_to(target: SocketAddr) -> Link {
        Link {
            port: crate::free_port(),
            target,
            running: Mutex::new(None),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` with its port replaced by this link's.
    pub fn url_for(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("a URL");
        url.set_port(Some(self.port)).expect("a URL with a port");
        url.to_string()
    }

    /// Closes every connection through the link and stops listening.
    pub fn cut(&self) {
        if let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            running.stop();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = loop {
            // the port was ours a moment ago; a closing socket may hold it
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let target = self.target;
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                let mut all = tracked.lock().unwrap_or_else(|e| e.into_inner());
                all.retain(|c| !c.is_finished());
                all.push(relay);
            }
        });
        let previous = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Running {
                accept,
                connections,
            });
        if let Some(previous) = previous {
            previous.stop();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}
