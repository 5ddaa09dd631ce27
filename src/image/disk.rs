//! The disk: a GPT with a BIOS boot partition (GRUB's core image), an EFI system partition
//! (GRUB as `EFI/BOOT/BOOTX64.EFI`) and the root file system, assembled in a regular file without
//! a loop device: `sfdisk` writes the table, `mkfs.ext4 -d` fills the root partition in place
//! (`-E offset=`), and the boot code is written at fixed sectors.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;
/// GRUB's core image for BIOS lives in the BIOS boot partition, from this sector.
pub const BIOS_START: u64 = 2048;
const BIOS_SECTORS: u64 = 2048;
pub const ESP_START: u64 = BIOS_START + BIOS_SECTORS;
const ESP_SECTORS: u64 = 32 * MIB / SECTOR;
pub const ROOT_START: u64 = ESP_START + ESP_SECTORS;
/// The backup GPT at the end of the disk.
const GPT_BACKUP_SECTORS: u64 = 33;

/// GPT partition types.
const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// The Discoverable Partitions Specification's root partition for x86-64.
const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Where each part of the disk lies, in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub disk_bytes: u64,
    pub root_sectors: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error(
        "the image would be {size} MiB, but its root needs {needed} MiB (give a larger --size)"
    )]
    TooSmall { size: u64, needed: u64 },
    #[error("GRUB's core image is {0} bytes, more than the 1 MiB BIOS boot partition")]
    CoreTooLarge(usize),
    #[error("GRUB's boot image is {0} bytes, not 512")]
    BootImage(usize),
}

impl Layout {
    /// A disk of `size` bytes (rounded up to MiB) whose root partition holds at least `needed`.
    pub fn new(size: u64, needed: u64) -> Result<Self, LayoutError> {
        let disk_bytes = size.div_ceil(MIB) * MIB;
        let end = (disk_bytes / SECTOR).saturating_sub(GPT_BACKUP_SECTORS + 1);
        // Whole 4 KiB blocks, so that the file system covers the partition exactly.
        let root_sectors = end.saturating_sub(ROOT_START) / 8 * 8;
        if root_sectors * SECTOR < needed {
            return Err(LayoutError::TooSmall {
                size: disk_bytes / MIB,
                needed: (needed + ROOT_START * SECTOR).div_ceil(MIB) + 1,
            });
        }
        Ok(Self {
            disk_bytes,
            root_sectors,
        })
    }

    /// The script `sfdisk` reads to write the partition table.
    pub fn sfdisk_script(&self, disk_uuid: &str, root_part_uuid: &str) -> String {
        format!(
            "label: gpt\nlabel-id: {disk_uuid}\nunit: sectors\n\
             start={BIOS_START}, size={BIOS_SECTORS}, type={BIOS_BOOT}, name=\"BIOS boot\"\n\
             start={ESP_START}, size={ESP_SECTORS}, type={ESP}, name=\"EFI system\"\n\
             start={ROOT_START}, size={}, type={ROOT_X86_64}, uuid={root_part_uuid}, name=root\n",
            self.root_sectors
        )
    }

    pub fn root_offset(&self) -> u64 {
        ROOT_START * SECTOR
    }

    /// The root file system's size in KiB, as `mkfs.ext4` takes it.
    pub fn root_kib(&self) -> u64 {
        self.root_sectors * SECTOR / 1024
    }

    pub fn esp_offset() -> u64 {
        ESP_START * SECTOR
    }

    pub fn esp_kib() -> u64 {
        ESP_SECTORS * SECTOR / 1024
    }
}

/// The first 440 bytes of the disk: GRUB's `boot.img` told to load the core image from
/// [`BIOS_START`] (what `grub-bios-setup` does, without a block device). The partition table
/// after byte 440 is left alone.
pub fn boot_code(boot_img: &[u8]) -> Result<[u8; 440], LayoutError> {
    if boot_img.len() != 512 {
        return Err(LayoutError::BootImage(boot_img.len()));
    }
    let mut code = [0u8; 440];
    code.copy_from_slice(&boot_img[..440]);
    // GRUB_BOOT_MACHINE_KERNEL_SECTOR: the first sector of the core image, 64 bits.
    code[0x5c..0x64].copy_from_slice(&BIOS_START.to_le_bytes());
    Ok(code)
}

/// GRUB's `core.img` for the BIOS boot partition: its first sector (`diskboot.img`) loads the
/// rest from the block list at its end, whose start `grub-mkimage` leaves at sector 2 (core at
/// sector 1, as on an MBR disk); moved to the sector after [`BIOS_START`].
pub fn place_core(mut core: Vec<u8>) -> Result<Vec<u8>, LayoutError> {
    if core.len() > usize::try_from(BIOS_SECTORS * SECTOR).unwrap_or(usize::MAX) || core.len() < 512
    {
        return Err(LayoutError::CoreTooLarge(core.len()));
    }
    // struct grub_pc_bios_boot_blocklist { u64 start; u16 len; u16 segment; } at the sector's end.
    core[500..508].copy_from_slice(&(BIOS_START + 1).to_le_bytes());
    Ok(core)
}

/// Writes `bytes` at `offset` of the file at `path`, then syncs it.
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs_err::OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Copies the file `from` into `to` at `offset`, leaving holes where `from` has zero blocks.
pub fn copy_into(from: &Path, to: &Path, offset: u64) -> std::io::Result<()> {
    let mut source = fs_err::File::open(from)?;
    let mut target = fs_err::OpenOptions::new().write(true).open(to)?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut position = offset;
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        for block in buffer[..read].chunks(4096) {
            if block.iter().any(|b| *b != 0) {
                target.seek(SeekFrom::Start(position))?;
                target.write_all(block)?;
            }
            position += block.len() as u64;
        }
    }
    target.sync_all()
}

/// A size as people write it: `4G`, `512M`, `2048K`, `1T` (powers of 1024), or bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (like 4G or 512M)"))?;
    let shift = match unit
        .trim_end_matches(['B', 'b', 'i'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (K, M, G or T)")),
    };
    number
        .checked_mul(1 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_fills_the_disk_after_the_boot_partitions() {
        let layout = Layout::new(4 << 30, 1 << 30).unwrap();
        assert_eq!(layout.disk_bytes, 4 << 30);
        // Ends before the backup GPT, in whole 4 KiB blocks.
        let end = ROOT_START + layout.root_sectors;
        assert!(end <= (4u64 << 30) / SECTOR - 34, "{end}");
        assert_eq!(layout.root_sectors % 8, 0);
        assert_eq!(layout.root_offset(), 69632 * 512);
        assert_eq!(layout.root_kib(), layout.root_sectors / 2);
        let script = layout.sfdisk_script("D", "R");
        assert!(
            script.contains("start=2048, size=2048, type=21686148"),
            "{script}"
        );
        assert!(
            script.contains("start=4096, size=65536, type=C12A7328"),
            "{script}"
        );
        assert!(script.contains(&format!("start=69632, size={},", layout.root_sectors)));
        assert!(script.contains("uuid=R"));
    }

    #[test]
    fn a_root_larger_than_the_disk_is_refused_with_the_size_it_needs() {
        let error = Layout::new(1 << 30, 2 << 30).unwrap_err();
        assert_eq!(
            error,
            LayoutError::TooSmall {
                size: 1024,
                needed: 2083
            }
        );
        assert!(error.to_string().contains("--size"));
    }

    #[test]
    fn boot_code_points_at_the_core_image() {
        let mut boot = vec![0xAAu8; 512];
        boot[0x5c..0x64].copy_from_slice(&1u64.to_le_bytes());
        let code = boot_code(&boot).unwrap();
        assert_eq!(
            u64::from_le_bytes(code[0x5c..0x64].try_into().unwrap()),
            2048
        );
        assert_eq!(code[0], 0xAA);
        assert_eq!(code[439], 0xAA);
        assert!(matches!(
            boot_code(&boot[..400]),
            Err(LayoutError::BootImage(400))
        ));
    }

    #[test]
    fn core_image_block_list_starts_after_its_first_sector() {
        let mut core = vec![0u8; 3 * 512];
        core[500..508].copy_from_slice(&2u64.to_le_bytes());
        core[508..510].copy_from_slice(&2u16.to_le_bytes());
        let placed = place_core(core).unwrap();
        assert_eq!(
            u64::from_le_bytes(placed[500..508].try_into().unwrap()),
            2049
        );
        // The length grub-mkimage wrote is kept.
        assert_eq!(u16::from_le_bytes(placed[508..510].try_into().unwrap()), 2);
        assert!(place_core(vec![0; 2 << 20]).is_err());
    }

    #[test]
    fn copy_into_writes_at_the_offset_and_keeps_holes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let to = dir.path().join("to");
        let mut bytes = vec![0u8; 3 * 4096];
        bytes[4096] = 7;
        fs_err::write(&from, &bytes).unwrap();
        fs_err::write(&to, vec![1u8; 5 * 4096]).unwrap();
        copy_into(&from, &to, 4096).unwrap();
        let out = fs_err::read(&to).unwrap();
        assert_eq!(out[2 * 4096], 7);
        // Zero blocks of the source are not written: what was there stays.
        assert_eq!(out[4096], 1);
        assert_eq!(out[0], 1);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("4X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("G").is_err());
        assert!(parse_size("0").is_err());
    }
}
