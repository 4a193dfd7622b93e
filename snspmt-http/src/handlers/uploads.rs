//! Admin image uploads and serving them. The type comes from the file's magic bytes; the
//! stored name is random (`<32 hex>.<ext>`) and only names of that form are ever served, so
//! no path from a client reaches the file system.

use std::io::Write;

use hyper::StatusCode;
use rand::RngCore;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use snspmt_core::media::ImageKind;
use snspmt_store::NewAudit;

use super::bytes;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::multipart;
use crate::request::Req;
use crate::router::{Image, Json, Raw, MAX_IMAGE};
use crate::App;

/// The form field that carries the image; the original client names it [`ALT_FIELD`].
pub const FIELD: &str = "image";
pub const ALT_FIELD: &str = "file";

/// A stored name we generated, or `None`.
pub fn stored_name(name: &str) -> Option<(&str, ImageKind)> {
    let (stem, ext) = name.split_once('.')?;
    let kind = ImageKind::from_extension(ext)?;
    (stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some((stem, kind))
}

fn invalid(code: &'static str, message: &str) -> ApiError {
    ApiError::invalid_field(FIELD, code, message)
}

/// A stored image.
#[derive(Serialize, JsonSchema)]
pub struct Uploaded {
    success: bool,
    /// Where it is served: `/uploads/<filename>`.
    image_url: String,
    /// The stored name: 32 random hex digits and the type's extension.
    filename: String,
    /// The type found in the file's bytes.
    #[schemars(extend("enum" = ["image/png", "image/jpeg", "image/gif", "image/webp"]))]
    content_type: &'static str,
    /// Bytes.
    size: usize,
}

/// `POST /api/admin/upload-image`: a `multipart/form-data` body whose `image` (or `file`) field
/// holds a PNG, JPEG, GIF or WebP image of at most 10 MiB.
pub async fn upload_image(app: &App, caller: &Caller, req: &Req) -> Result<Json<Uploaded>, ApiError> {
    let content_type = req.header("content-type").unwrap_or_default();
    // The original client sends its form as `application/json` (or without the boundary): the
    // body's first line then names the boundary.
    let boundary = match multipart::boundary(content_type) {
        Ok(b) => b,
        Err(e) => multipart::boundary_from_body(&req.body)
            .ok_or_else(|| ApiError::bad_request("invalid_multipart", e.to_string()))?,
    };
    let parts = multipart::parse(&req.body, &boundary)
        .map_err(|e| ApiError::bad_request("invalid_multipart", e.to_string()))?;
    let part = parts
        .iter()
        .find(|p| p.name == FIELD)
        .or_else(|| parts.iter().find(|p| p.name == ALT_FIELD))
        .ok_or_else(|| {
            ApiError::invalid_field(FIELD, "missing_field", "the form has no image (or file) field")
        })?;
    if let Some(name) = &part.filename {
        if name.contains(['/', '\\', '\0']) || name.contains("..") {
            return Err(invalid("invalid_filename", "the file name must not contain a path"));
        }
    }
    if part.data.is_empty() {
        return Err(invalid("invalid_image", "the image is empty"));
    }
    if part.data.len() > MAX_IMAGE {
        return Err(ApiError::payload_too_large(MAX_IMAGE));
    }
    let kind = ImageKind::sniff(part.data)
        .ok_or_else(|| invalid("unsupported_image_type", "the file is not a PNG, JPEG, GIF or WebP image"))?;
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let stem = snspmt_core::lower_hex(&random);
    let name = format!("{stem}.{}", kind.extension());
    let dir = std::path::PathBuf::from(&app.config.upload_dir);
    let path = dir.join(&name);
    let data = part.data.to_vec();
    let size = data.len();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        file.write_all(&data)?;
        file.sync_all()
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        crate::log::error(&format!("upload: writing the image failed: {e}"));
        ApiError::internal()
    })?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "uploads.image".into(),
        target: Some(name.clone()),
        detail: json!({"content_type": kind.content_type(), "size": size}).to_string(),
    };
    app.store.record_audit(audit, app.clock.now()).await?;
    Ok(Json(Uploaded {
        success: true,
        image_url: format!("/uploads/{name}"),
        filename: name,
        content_type: kind.content_type(),
        size,
    }))
}

pub async fn serve(app: &App, name: &str) -> Result<Raw, ApiError> {
    let (_, kind) = stored_name(name).ok_or_else(|| ApiError::not_found("upload"))?;
    let path = std::path::PathBuf::from(&app.config.upload_dir).join(name);
    let data = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::not_found("upload"))?;
    let mut resp = bytes(StatusCode::OK, kind.content_type(), data);
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("public, max-age=86400"),
    );
    resp.headers_mut().insert(
        "content-security-policy",
        hyper::header::HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    Ok(resp)
}

crate::router::route_table! {
    AdminUploadImage: POST "/api/admin/upload-image", Admin, "admin.upload_image", limit crate::router::MAX_UPLOAD_BODY,
        reply Json<Uploaded>,
        |app, caller, req| upload_image(app, caller, req);
    Upload: GET "/uploads/{name}", Public, "uploads.get", reply Image,
        |app, _, _, name| async move { serve(app, name).await.map(Image) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generated_names_are_served() {
        let good = "0123456789abcdef0123456789abcdef.png";
        assert!(matches!(stored_name(good), Some((_, ImageKind::Png))));
        for bad in [
            "../0123456789abcdef0123456789abcdef.png",
            "0123456789abcdef0123456789abcdef.php",
            "0123456789ABCDEF0123456789abcdef.png",
            "0123456789abcdef0123456789abcde.png",
            "0123456789abcdef0123456789abcdef.png.php",
            "0123456789abcdef0123456789abcdef",
            "..",
            "",
        ] {
            assert!(stored_name(bad).is_none(), "{bad}");
        }
    }
}
