//! A process's terminal (`ctr run -t`, `ctr task exec -t`, `kubectl exec
//! -t`), the way runc's shim does it: the shim listens on a console socket,
//! the runtime's process opens the pty inside the container and sends the
//! master over that socket (`SCM_RIGHTS`), and the shim copies between the
//! master and the task's FIFOs (stdin FIFO → master → stdout FIFO; a
//! terminal has no separate stderr) and resizes it for `ResizePty`.
//!
//! The copies run on two threads a terminal, which end on their own: the
//! output copy when the last holder of the pty's other end exits (the
//! master then reads `EIO`), closing the stdout FIFO so the client sees
//! end-of-file; the input copy when the stdin FIFO has no writer left (the
//! client closed it and `close_io` dropped the shim's own, see
//! `backend::hold_stdin`) or the master refuses the write.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::backend::Stdio;
use crate::error::ShimError;

/// How long the shim waits for the master once the runtime returned (it
/// was sent before the runtime's command exited: this is a safety bound).
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A listening unix socket in a fresh private directory (removed on drop),
/// for the runtime's `--console-socket`.
#[derive(Debug)]
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens in a new `0700` directory under the temporary directory.
    pub fn new() -> Result<Self, ShimError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Only to make the directory name unlikely to collide (not a trust
        // decision; the one clock for those is `cerro_core::clock::unix_now`).
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "cerro-pty-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| ShimError::io("creating", &dir, e))?;
        let path = dir.join("pty.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ShimError::io("listening on", &path, e));
            }
        };
        Ok(ConsoleSocket { dir, path, listener })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the runtime's process sent.
    pub fn receive(&self) -> Result<OwnedFd, ShimError> {
        let err = |what: &'static str, e: io::Error| ShimError::io(what, &self.path, e);
        self.listener
            .set_nonblocking(true)
            .map_err(|e| err("listening on", e))?;
        let start = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < RECEIVE_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(err("receiving the terminal on", e)),
            }
        };
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_read_timeout(Some(RECEIVE_TIMEOUT)))
            .map_err(|e| err("receiving the terminal on", e))?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut buf = [0u8; 64];
        rustix::net::recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| err("receiving the terminal on", e.into()))?;
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                fds.extend(rights);
            }
        }
        // Exactly one descriptor: the master.
        match <[OwnedFd; 1]>::try_from(fds) {
            Ok([master]) => Ok(master),
            Err(fds) => Err(err(
                "receiving the terminal on",
                io::Error::other(format!("{} descriptors instead of the pty master", fds.len())),
            )),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process's terminal: its master, copied to and from the task's FIFOs.
#[derive(Debug, Clone)]
pub struct Console {
    master: Arc<File>,
}

/// Opens an output stream as the runtime does: a FIFO or file path, or
/// `file://PATH` (appended to).
fn open_output(spec: &str) -> io::Result<File> {
    match spec.strip_prefix("file://") {
        Some(path) => std::fs::OpenOptions::new().append(true).create(true).open(path),
        None if spec.contains("://") => Err(io::Error::other(format!(
            "unsupported stream URI {spec:?} (FIFO paths and file:// only)"
        ))),
        // A FIFO: blocks (in the copy thread) until the client reads.
        None => std::fs::OpenOptions::new().write(true).open(spec),
    }
}

impl Console {
    /// Starts copying: `stdio.stdin` (if any) into the master, the master
    /// into `stdio.stdout` (if any).
    pub fn start(master: OwnedFd, stdio: &Stdio) -> Result<Console, ShimError> {
        let master = Arc::new(File::from(master));
        if !stdio.stdout.is_empty() {
            let (m, out) = (master.clone(), stdio.stdout.clone());
            std::thread::Builder::new()
                .name("pty-out".into())
                .spawn(move || match open_output(&out) {
                    // Ends with EIO once the process's side is closed.
                    Ok(mut f) => drop(io::copy(&mut &*m, &mut f)),
                    Err(e) => log::warn!("terminal output to {out}: {e}"),
                })
                .map_err(|e| ShimError::io("starting the terminal copy for", &stdio.stdout, e))?;
        }
        if !stdio.stdin.is_empty() {
            let (m, input) = (master.clone(), stdio.stdin.clone());
            std::thread::Builder::new()
                .name("pty-in".into())
                .spawn(move || match File::open(&input) {
                    Ok(mut f) => drop(io::copy(&mut f, &mut &*m)),
                    Err(e) => log::warn!("terminal input from {input}: {e}"),
                })
                .map_err(|e| ShimError::io("starting the terminal copy for", &stdio.stdin, e))?;
        }
        Ok(Console { master })
    }

    /// Sets the terminal's size (what `ResizePty` asks).
    pub fn resize(&self, width: u32, height: u32) -> Result<(), ShimError> {
        let size = |v: u32| {
            u16::try_from(v).map_err(|_| ShimError::InvalidArgument(format!("terminal size {width}x{height}")))
        };
        let ws = rustix::termios::Winsize {
            ws_row: size(height)?,
            ws_col: size(width)?,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&*self.master, ws)
            .map_err(|e| ShimError::io("resizing the terminal", "pty master", e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use rustix::pty::{ptsname, OpenptFlags};

    /// A pty pair: the master and the slave's path.
    fn pty() -> (OwnedFd, PathBuf) {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        (master, PathBuf::from(name.to_string_lossy().into_owned()))
    }

    /// What the runtime's process does: connect and send `fd`.
    fn send(path: &Path, fds: &[&OwnedFd]) {
        use std::os::fd::AsFd;
        let s = UnixStream::connect(path).unwrap();
        let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&borrowed)));
        rustix::net::sendmsg(&s, &[io::IoSlice::new(b"/dev/ptmx")], &mut control, SendFlags::empty()).unwrap();
    }

    fn mkfifo(path: &Path) {
        assert!(std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success());
    }

    #[test]
    fn the_master_is_received_copied_and_resized() {
        let dir = tempfile::tempdir().unwrap();
        let socket = ConsoleSocket::new().unwrap();
        let sock_dir = socket.path().parent().unwrap().to_path_buf();
        let (master, slave_path) = pty();
        send(socket.path(), &[&master]);
        drop(master);
        let master = socket.receive().unwrap();
        drop(socket);
        assert!(!sock_dir.exists(), "the socket's directory is removed");

        let (stdin, stdout) = (dir.path().join("in"), dir.path().join("out"));
        mkfifo(&stdin);
        mkfifo(&stdout);
        // The client's ends, as ctr holds them.
        let mut client_in = std::fs::OpenOptions::new().read(true).write(true).open(&stdin).unwrap();
        let client_out = std::thread::spawn({
            let stdout = stdout.clone();
            move || {
                let mut s = String::new();
                std::fs::File::open(stdout).unwrap().read_to_string(&mut s).unwrap();
                s
            }
        });
        let stdio = Stdio {
            stdin: stdin.display().to_string(),
            stdout: stdout.display().to_string(),
            terminal: true,
            ..Default::default()
        };
        let console = Console::start(master, &stdio).unwrap();
        let mut slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .unwrap();
        // Raw mode on the slave: no echo, no line discipline in the way.
        let mut t = rustix::termios::tcgetattr(&slave).unwrap();
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();

        console.resize(101, 33).unwrap();
        let ws = rustix::termios::tcgetwinsize(&slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (101, 33));
        assert!(console.resize(70_000, 1).is_err());

        client_in.write_all(b"typed").unwrap();
        let mut got = [0u8; 5];
        slave.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"typed");

        slave.write_all(b"printed").unwrap();
        // The process's side closes: the client reads to end-of-file.
        drop(slave);
        assert_eq!(client_out.join().unwrap(), "printed");
    }

    #[test]
    fn anything_but_one_descriptor_is_refused() {
        let socket = ConsoleSocket::new().unwrap();
        let (a, _) = pty();
        let (b, _) = pty();
        send(socket.path(), &[&a, &b]);
        let e = socket.receive().unwrap_err().to_string();
        assert!(e.contains("2 descriptors instead of the pty master"), "{e}");
    }

    #[test]
    fn output_streams_open_like_the_runtimes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let uri = format!("file://{}", log.display());
        open_output(&uri).unwrap().write_all(b"a").unwrap();
        open_output(&uri).unwrap().write_all(b"b").unwrap();
        assert_eq!(std::fs::read(&log).unwrap(), b"ab");
        assert!(open_output("binary:///usr/bin/logger").is_err());
    }
}
