//! Randomness from the kernel (getrandom(2)), for identifiers and generated secrets.
//!
//! A failure to get random bytes is an error to the caller, never a weaker fallback: a zeroed
//! buffer or a fixed password would be shared by every system that hit it.

/// The kernel's random source could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the kernel's random source: {0}")]
pub struct RandomError(pub String);

/// Where random bytes come from: the kernel, or in tests a source that fails.
pub trait Source {
    fn fill(&mut self, bytes: &mut [u8]) -> Result<(), RandomError>;
}

/// getrandom(2): blocks until the kernel's pool is initialised, needs no `/dev` (chroots).
#[derive(Debug, Default, Clone, Copy)]
pub struct Kernel;

impl Source for Kernel {
    fn fill(&mut self, bytes: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(bytes).map_err(|e| RandomError(e.to_string()))
    }
}

/// `N` random bytes from the kernel.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buffer = [0u8; N];
    Kernel.fill(&mut buffer)?;
    Ok(buffer)
}

/// A random (version 4) UUID in its usual text form.
pub fn uuid() -> Result<String, RandomError> {
    Ok(uuid_text(bytes::<16>()?))
}

/// The text of a version 4 UUID made of `bytes` (random, or derived for a reproducible build).
pub fn uuid_text(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Letters and digits that cannot be mistaken for one another when read off a screen (no `0`,
/// `O`, `1`, `l`, `I`, `o`).
pub const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A password of `length` characters of [`PASSWORD_ALPHABET`], drawn without bias (bytes past
/// the largest multiple of the alphabet's size are drawn again). 20 characters carry 115 bits.
pub fn password(source: &mut dyn Source, length: usize) -> Result<String, RandomError> {
    let size = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; 32];
    while out.len() < length {
        source.fill(&mut buffer)?;
        for &b in &buffer {
            if usize::from(b) < limit && out.len() < length {
                out.push(char::from(PASSWORD_ALPHABET[usize::from(b) % size]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A random source that fails, as a system without one would.
    pub(crate) struct Broken;

    impl Source for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError("getrandom: function not implemented".into()))
        }
    }

    #[test]
    fn uuids_are_version_4_and_differ() {
        let a = uuid().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, uuid().unwrap());
        assert_eq!(uuid_text([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn passwords_use_the_alphabet_and_differ() {
        let a = password(&mut Kernel, 20).unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)), "{a}");
        assert_ne!(a, password(&mut Kernel, 20).unwrap());
        assert_eq!(password(&mut Kernel, 100).unwrap().len(), 100);
    }

    #[test]
    fn a_broken_source_is_an_error_not_a_weak_password() {
        let error = password(&mut Broken, 20).unwrap_err();
        assert!(error.to_string().contains("random source"), "{error}");
    }
}
