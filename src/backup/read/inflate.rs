//! A tarball member inflated on a second core: a thread reads the member out of the zip, hashes
//! and inflates it, and hands the tar stream over in blocks while the caller checks and writes
//! the entries. A restore then takes the time of the slower of the two halves rather than of
//! both, which on a big wiki's tens of thousands of small files puts it near `tar -xzf`.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::backup::Progress;

/// The size of a block of the tar stream handed over.
const BLOCK: usize = 256 << 10;
/// The blocks inflated ahead of the caller (memory: `DEPTH` × [`BLOCK`]).
const DEPTH: usize = 4;

/// The SHA-256 and SHA-1 of a member's bytes (hexadecimal).
pub(super) type Digests = (String, String);

/// What the inflating thread hands over: a block of the tar stream and how many of the member's
/// bytes it read for it (the progress), or why it stopped.
type Message = io::Result<(Vec<u8>, u64)>;

/// Runs `consume` on the inflated stream of `member` (a gzip file) while a thread inflates it;
/// `consume`'s result, and the digests of every byte of the member (what follows the gzip
/// stream included) once `consume` has read the stream to its end. Progress is the member's
/// bytes, reported on the caller's thread.
pub(super) fn inflated<R: Read + Send, T>(
    member: R,
    progress: &dyn Progress,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> (T, io::Result<Digests>) {
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(DEPTH);
        let worker = scope.spawn(move || inflate(member, &sender));
        let mut stream = Stream {
            receiver,
            block: Vec::new(),
            at: 0,
            progress,
        };
        let consumed = consume(&mut stream);
        // The caller stopped (an error, or the end of the tar): the thread ends as its next
        // block finds nobody to take it.
        drop(stream);
        let digests = worker
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the inflating thread panicked")));
        (consumed, digests)
    })
}

/// The thread's work: `member` read, hashed and inflated to the end of its gzip stream, then
/// the rest of its bytes read and hashed. Errors go to the caller through the channel as well.
fn inflate<R: Read>(member: R, sender: &SyncSender<Message>) -> io::Result<Digests> {
    let mut hashing = Hashing {
        inner: member,
        sha256: Sha256::new(),
        sha1: Sha1::new(),
        read: 0,
    };
    let result = (|| {
        let mut gzip = flate2::read::GzDecoder::new(&mut hashing);
        loop {
            let mut block = vec![0; BLOCK];
            let mut filled = 0;
            while filled < BLOCK {
                match gzip.read(&mut block[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            block.truncate(filled);
            let read = std::mem::take(&mut gzip.get_mut().read);
            if filled == 0 {
                break;
            }
            send(sender, Ok((block, read)))?;
        }
        // The digest covers the whole member, padding after the gzip stream included.
        io::copy(&mut hashing, &mut io::sink())?;
        send(sender, Ok((Vec::new(), std::mem::take(&mut hashing.read))))
    })();
    if let Err(error) = result {
        // The caller may be gone; the error is returned by join as well.
        let copy = io::Error::new(error.kind(), error.to_string());
        let _ = sender.send(Err(error));
        return Err(copy);
    }
    Ok((
        hex::encode(hashing.sha256.finalize()),
        hex::encode(hashing.sha1.finalize()),
    ))
}

/// Hands `message` over; an error when nobody takes it any more.
fn send(sender: &SyncSender<Message>, message: Message) -> io::Result<()> {
    sender
        .send(message)
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the tar stream's reader stopped"))
}

/// A reader that hashes what it reads and counts it.
struct Hashing<R> {
    inner: R,
    sha256: Sha256,
    sha1: Sha1,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.sha256.update(&buffer[..read]);
        self.sha1.update(&buffer[..read]);
        self.read += read as u64;
        Ok(read)
    }
}

/// The caller's end: the blocks as one stream.
struct Stream<'a> {
    receiver: Receiver<Message>,
    block: Vec<u8>,
    at: usize,
    progress: &'a dyn Progress,
}

impl Read for Stream<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            match self.receiver.recv() {
                Ok(Ok((block, read))) => {
                    self.progress.advance(read);
                    self.block = block;
                    self.at = 0;
                }
                Ok(Err(error)) => return Err(error),
                // The thread is done: the end of the stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.block.len() - self.at);
        buffer[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::Write as _;

    /// Counts the progress it is told.
    #[derive(Default)]
    struct Counted(Cell<u64>);

    impl Progress for Counted {
        fn advance(&self, bytes: u64) {
            self.0.set(self.0.get() + bytes);
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Many blocks' worth, not all alike.
    fn data() -> Vec<u8> {
        (0..3 * BLOCK * DEPTH)
            .map(|i| u8::try_from(i * 7 % 251).unwrap())
            .collect()
    }

    #[test]
    fn the_stream_is_the_member_inflated_and_the_digests_cover_every_byte() {
        let mut member = gzip(&data());
        // Padding after the gzip stream, as a tarball may carry: in the digests, not the stream.
        member.extend_from_slice(&[0; 700]);
        let progress = Counted::default();
        let (read, digests) = inflated(&member[..], &progress, |stream| {
            let mut all = Vec::new();
            stream.read_to_end(&mut all).map(|_| all)
        });
        assert!(read.unwrap() == data());
        assert_eq!(
            digests.unwrap(),
            (
                hex::encode(Sha256::digest(&member)),
                hex::encode(Sha1::digest(&member))
            )
        );
        assert_eq!(progress.0.get(), member.len() as u64);
    }

    #[test]
    fn a_truncated_member_is_an_error_to_the_reader_and_in_the_digests() {
        let member = gzip(&data());
        let cut = &member[..member.len() / 2];
        let (read, digests) = inflated(cut, &Counted::default(), |stream| {
            io::copy(stream, &mut io::sink())
        });
        assert!(read.is_err(), "{read:?}");
        assert!(digests.is_err());
        let (read, digests) = inflated(&b"not gzip"[..], &Counted::default(), |stream| {
            io::copy(stream, &mut io::sink())
        });
        assert!(read.is_err() && digests.is_err());
    }

    #[test]
    fn a_reader_that_stops_early_does_not_wait_for_the_rest() {
        let member = gzip(&data());
        let (first, digests) = inflated(&member[..], &Counted::default(), |stream| {
            let mut one = [0u8; 10];
            stream.read_exact(&mut one).map(|()| one)
        });
        assert_eq!(first.unwrap()[..], data()[..10]);
        // Nobody took the rest: no digests of a member not read through.
        assert_eq!(digests.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
