//! Bad days of the machine under a running server: a full attachments disk.
//! (Dependencies that go away, as processes, are in `crates/corral/tests/faults.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::{Envelope, Shape, TestApp, event};

/// A small tmpfs, unmounted when dropped: a disk that really fills up.
/// Mounting needs root, which the test machines and CI give; a machine
/// without it fails here rather than skip the check.
struct SmallDisk {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: usize) -> SmallDisk {
        let parent = tempfile::Builder::new()
            .prefix("corral-small-disk-")
            .tempdir()
            .expect("a temporary directory");
        let dir = parent.path().join("attachments");
        std::fs::create_dir(&dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {bytes}-byte tmpfs at {} failed (the test needs root)",
            dir.display()
        );
        SmallDisk {
            dir,
            _parent: parent,
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Must survive: a full attachments disk answers 507 with a reason and
/// Retry-After, refuses only what needs the disk, and loses nothing it
/// acknowledged.
async fn a_full_attachments_disk_refuses_with_507_and_loses_nothing(shape: Shape) {
    let disk = SmallDisk::mount(256 * 1024);
    let app = TestApp::builder(shape)
        .toml(&format!("attachments_dir = \"{}\"", disk.path().display()))
        .start()
        .await;
    let mut accepted = Vec::new();
    let mut full = None;
    for i in 0..40 {
        let (id, ev) = event(&format!("with a screenshot {i}"));
        let body = Envelope::new(json!({ "event_id": id.simple().to_string() }))
            .event(&ev)
            .item(
                json!({ "type": "attachment", "filename": "screen.png" }),
                &vec![b'p'; 30 * 1024],
            )
            .build();
        let reply = app.post_envelope(body).await;
        match reply.status {
            200 => accepted.push(id),
            507 => {
                full = Some(reply);
                break;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    let full = full.expect("the disk filled up within 40 attachments of 30 KiB");
    full.assert_refused(507, "no space left to store attachments");
    assert_eq!(full.header("retry-after"), Some("60"));
    assert!(!accepted.is_empty(), "some fitted before the disk was full");

    // what does not need the disk still gets in
    let (id, ev) = event("no attachment");
    assert_eq!(app.send_event(&ev).await, id);

    // every acknowledged event is stored, with its attachment
    for id in &accepted {
        app.wait_for_event(*id).await;
        // the attachment is an item of its own, digested beside the event
        app.eventually(
            &format!("event {id} has its attachment"),
            Duration::from_secs(20),
            async || {
                let files = app
                    .store
                    .list_attachments(app.project().id, *id)
                    .await
                    .expect("attachments");
                (files.len() == 1).then_some(())
            },
        )
        .await;
    }
    app.wait_for_event(id).await;
    // the refused envelope left no partial file behind
    let used: u64 = walk(disk.path())
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(
        used <= (accepted.len() as u64) * 30 * 1024,
        "{used} bytes on the disk"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

both_shapes!(a_full_attachments_disk_refuses_with_507_and_loses_nothing);
