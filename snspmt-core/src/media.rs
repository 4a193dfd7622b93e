//! Uploaded images: the type is decided by the file's first bytes, never by its name or the
//! client's `Content-Type`.
//!
//! # Example
//!
//! ```
//! use snspmt_core::media::ImageKind;
//!
//! let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
//! assert_eq!(ImageKind::sniff(png), Some(ImageKind::Png));
//! assert_eq!(ImageKind::sniff(png).map(ImageKind::extension), Some("png"));
//! // A name or a Content-Type proves nothing: an HTML page is not an image.
//! assert_eq!(ImageKind::sniff(b"<html><script>"), None);
//! ```

/// The image types the panel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageKind {
    pub const ALL: [ImageKind; 4] = [ImageKind::Png, ImageKind::Jpeg, ImageKind::Gif, ImageKind::Webp];

    /// The type of `bytes` by its magic number, or `None`.
    pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else {
            None
        }
    }

    /// The file name extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    /// The kind of an extension this module gives out.
    pub fn from_extension(ext: &str) -> Option<ImageKind> {
        ImageKind::ALL.into_iter().find(|k| k.extension() == ext)
    }
}

#[cfg(test)]
mod tests {
    use super::ImageKind;

    #[test]
    fn magic_numbers() {
        assert_eq!(ImageKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(ImageKind::Jpeg));
        assert_eq!(ImageKind::sniff(b"GIF89a\x01\0"), Some(ImageKind::Gif));
        assert_eq!(ImageKind::sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(ImageKind::sniff(b"<?php system($_GET['c']); ?>"), None);
        assert_eq!(ImageKind::sniff(b"RIFF\x24\0\0\0WAVE"), None);
        assert_eq!(ImageKind::sniff(b"\x89PN"), None);
        assert_eq!(ImageKind::sniff(b""), None);
        for k in ImageKind::ALL {
            assert_eq!(ImageKind::from_extension(k.extension()), Some(k));
        }
        assert_eq!(ImageKind::from_extension("php"), None);
    }
}
