//! The ar container of a `.deb` (deb(5)): `debian-binary` first, then the control and data members.

use std::io::Read;
use std::path::Path;

use super::{DebError, Member};

pub(super) struct Members<'p, R: Read> {
    path: &'p Path,
    archive: ::ar::Archive<R>,
}

impl<'p, R: Read> Members<'p, R> {
    /// Opens the container and checks its `debian-binary` member.
    pub fn new(path: &'p Path, reader: R) -> Result<Self, DebError> {
        let mut archive = ::ar::Archive::new(reader);
        let not_deb = |reason: String| DebError::NotDeb {
            path: path.to_owned(),
            reason,
        };
        let mut first = match archive.next_entry() {
            None => return Err(not_deb("it is empty or not an ar archive".into())),
            Some(Err(error)) => return Err(not_deb(format!("not an ar archive ({error})"))),
            Some(Ok(entry)) => entry,
        };
        if first.header().identifier() != b"debian-binary" {
            return Err(not_deb("its first member is not `debian-binary`".into()));
        }
        let mut version = Vec::new();
        (&mut first)
            .take(64)
            .read_to_end(&mut version)
            .map_err(|error| not_deb(format!("`debian-binary` is unreadable ({error})")))?;
        if !version.starts_with(b"2.") {
            return Err(not_deb(format!(
                "format version `{}` is not 2.x",
                String::from_utf8_lossy(&version).trim()
            )));
        }
        drop(first);
        Ok(Self { path, archive })
    }

    /// The next member, or `None` at the end of the container.
    pub fn next_member(&mut self) -> Result<Option<Member<'_>>, DebError> {
        match self.archive.next_entry() {
            None => Ok(None),
            Some(Err(source)) => Err(DebError::Member {
                path: self.path.to_owned(),
                member: "(ar header)".into(),
                source,
            }),
            Some(Ok(entry)) => {
                let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
                Ok(Some(Member {
                    name,
                    reader: Box::new(entry),
                }))
            }
        }
    }
}
