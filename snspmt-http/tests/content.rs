//! Notices, the blog (with its sitemap and feed), image uploads and the admin dashboard, on
//! SQLite and PostgreSQL.

mod common;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_core::purchase::PurchaseMethod;
use snspmt_core::{Points, Won};
use snspmt_store::Millis;
use snspmt_store::{NewAudit, NewOrder, NewPurchase, NewService};

use common::{assert_error_body, Auth, OauthHarness, TestServer};

on_both_backends_with_oauth!(
    notices_are_managed_and_shown_inside_their_window,
    blog_reads_show_published_posts_only,
    sitemap_and_rss_are_escaped_xml_of_published_posts,
    uploads_are_images_by_magic_bytes_under_random_names,
    admin_stats_are_numbers_from_the_ledger,
    content_writes_need_the_admin,
);

fn rfc3339(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(&time::format_description::well_known::Rfc3339).expect("format")
}

async fn admin(s: &TestServer, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(method, path, Auth::Admin, Some(body)).await
}

async fn active(s: &TestServer) -> Vec<String> {
    let (status, body) = s.call(Method::GET, "/api/notices/active", Auth::None, None).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["notices"].as_array().expect("list");
    list.iter().map(|n| n["title"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn list(s: &TestServer, q: &str) -> Value {
    let (status, body) = s.call(Method::GET, &format!("/api/blog/posts{q}"), Auth::None, None).await;
    assert_eq!(status, StatusCode::OK, "{q}: {body}");
    body
}

async fn stats(s: &TestServer) -> Value {
    let (status, body) = s.call(Method::GET, "/api/admin/stats", Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn notices_are_managed_and_shown_inside_their_window(h: OauthHarness) {
    let s = &h.server;
    let make = |title: &str, extra: Value| {
        let mut body = json!({"title": title, "content": "내용", "popup_type": "modal"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let cases = [
        ("always", json!({})),
        (
            "now",
            json!({"starts_at": rfc3339(-3600), "ends_at": rfc3339(3600), "image_url": "/uploads/a.png"}),
        ),
        ("later", json!({"starts_at": rfc3339(3600)})),
        ("over", json!({"ends_at": rfc3339(-60)})),
        ("off", json!({"is_active": false})),
    ];
    let mut ids = std::collections::HashMap::new();
    for (title, extra) in cases {
        let (status, body) = admin(s, Method::POST, "/api/admin/notices", make(title, extra)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["notice"]["title"], title);
        ids.insert(title, body["notice"]["notice_id"].as_i64().expect("id"));
    }
    assert_eq!(active(s).await, ["now", "always"]);
    let (_, body) = s.call(Method::GET, "/api/notices/active", Auth::None, None).await;
    let now = &body["notices"][0];
    assert!(now["starts_at"].as_str().is_some_and(|t| t.ends_with('Z')), "RFC 3339 UTC: {now}");
    assert_eq!(now["image_url"], "/uploads/a.png");
    // Partial update: switch "always" off; clear "now"'s window end.
    let (status, body) =
        admin(s, Method::PUT, &format!("/api/admin/notices/{}", ids["always"]), json!({"is_active": false}))
            .await;
    assert_eq!((status, &body["notice"]["title"]), (StatusCode::OK, &json!("always")), "{body}");
    let (status, body) =
        admin(s, Method::PUT, &format!("/api/admin/notices/{}", ids["now"]), json!({"ends_at": null})).await;
    assert_eq!((status, &body["notice"]["ends_at"]), (StatusCode::OK, &Value::Null), "{body}");
    assert_eq!(active(s).await, ["now"]);
    let (status, body) = s.call(Method::GET, "/api/admin/notices?limit=2", Auth::Admin, None).await;
    assert_eq!((status, &body["total"]), (StatusCode::OK, &json!(5)));
    assert_eq!(body["notices"].as_array().map(Vec::len), Some(2));
    // Bad input: 400 with the field named, never 500.
    let bad = [
        json!({"content": "no title"}),
        json!({"title": ""}),
        json!({"title": "t", "starts_at": "tomorrow"}),
        json!({"title": "t", "starts_at": rfc3339(60), "ends_at": rfc3339(0)}),
        json!({"title": "t", "popup_type": "<script>"}),
        json!({"title": "t", "image_url": "javascript:alert(1)"}),
        json!({"title": "t", "is_active": "yes"}),
        json!({"title": "x".repeat(201)}),
    ];
    for body in bad {
        let (status, answer) = admin(s, Method::POST, "/api/admin/notices", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["code"].is_string());
    }
    let id = ids["over"];
    let (status, _) = s.call(Method::DELETE, &format!("/api/admin/notices/{id}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK);
    for (m, path) in [
        (Method::DELETE, format!("/api/admin/notices/{id}")),
        (Method::PUT, format!("/api/admin/notices/{id}")),
        (Method::GET, "/api/admin/notices/abc".to_owned()),
    ] {
        let (status, body) = s.call(m, &path, Auth::Admin, Some(json!({"title": "x"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error_body(&body, "not_found");
    }
    let (_, log) = s.call(Method::GET, "/api/admin/audit-log", Auth::Admin, None).await;
    let actions: Vec<&str> =
        log["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| a.starts_with("notices.")).count(), 8, "{actions:?}");
}

async fn create_post(s: &TestServer, body: Value) -> i64 {
    let (status, answer) = admin(s, Method::POST, "/api/blog/posts", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["post"]["post_id"].as_i64().expect("id")
}

async fn blog_reads_show_published_posts_only(h: OauthHarness) {
    let s = &h.server;
    let a = create_post(
        s,
        json!({"title": "Instagram tips", "content": "grow", "category": "sns",
        "tags": ["insta", "tips"], "is_published": true}),
    )
    .await;
    let b = create_post(
        s,
        json!({"title": "YouTube views", "content": "watch", "category": "video",
        "tags": "tips, video", "is_published": true}),
    )
    .await;
    let draft =
        create_post(s, json!({"title": "Draft about insta", "category": "sns", "tags": ["insta"]})).await;
    let ids = |body: &Value| {
        body["posts"]
            .as_array()
            .expect("posts")
            .iter()
            .filter_map(|p| p["post_id"].as_i64())
            .collect::<Vec<_>>()
    };
    let all = list(s, "").await;
    assert_eq!(ids(&all), [b, a]);
    assert_eq!(all["pagination"], json!({"page": 1, "limit": 10, "total": 2, "pages": 1}));
    let page2 = list(s, "?page=2&limit=1").await;
    assert_eq!((ids(&page2), &page2["pagination"]["pages"]), (vec![a], &json!(2)));
    assert_eq!(ids(&list(s, "?search=youtube").await), [b]);
    assert_eq!(ids(&list(s, "?search=insta").await), [a], "the draft is never listed");
    assert_eq!(ids(&list(s, "?category=sns").await), [a]);
    assert_eq!(ids(&list(s, "?tag=tips").await), [b, a]);
    assert_eq!(ids(&list(s, "?tag=video").await), [b]);
    for q in ["?page=0", "?limit=1000", "?page=x"] {
        let (status, body) = s.call(Method::GET, &format!("/api/blog/posts{q}"), Auth::None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_error_body(&body, "invalid_query");
    }
    // Reading counts a view; a draft or an unknown post is 404.
    for expected in [1, 2] {
        let (status, body) = s.call(Method::GET, &format!("/api/blog/posts/{a}"), Auth::None, None).await;
        assert_eq!((status, &body["post"]["view_count"]), (StatusCode::OK, &json!(expected)));
    }
    for id in [draft.to_string(), "999999".into(), "nope".into()] {
        let (status, body) = s.call(Method::GET, &format!("/api/blog/posts/{id}"), Auth::None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_error_body(&body, "not_found");
    }
    let (_, cats) = s.call(Method::GET, "/api/blog/categories", Auth::None, None).await;
    assert_eq!(cats["categories"], json!([{"name": "sns", "count": 1}, {"name": "video", "count": 1}]));
    let (_, tags) = s.call(Method::GET, "/api/blog/tags", Auth::None, None).await;
    assert_eq!(
        tags["tags"],
        json!([{"name": "insta", "count": 1}, {"name": "tips", "count": 2}, {"name": "video", "count": 1}])
    );
    // The admin sees drafts; publishing shows it; deleting hides it.
    let (_, body) = s.call(Method::GET, "/api/admin/blog/posts", Auth::Admin, None).await;
    assert_eq!(body["pagination"]["total"], 3);
    let (status, body) =
        admin(s, Method::PUT, &format!("/api/blog/posts/{draft}"), json!({"is_published": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["post"]["published_at"].is_string());
    assert_eq!(body["post"]["tags"], json!(["insta"]));
    assert_eq!(ids(&list(s, "?search=insta").await), [draft, a]);
    let (status, _) = s.call(Method::DELETE, &format!("/api/blog/posts/{a}"), Auth::Admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call(Method::GET, &format!("/api/blog/posts/{a}"), Auth::None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        json!({}),
        json!({"title": "t", "tags": [1]}),
        json!({"title": "t", "thumbnail_url": "javascript:x"}),
        json!({"title": "t", "content": "a\u{0}b"}),
    ] {
        let (status, body) = admin(s, Method::POST, "/api/blog/posts", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

/// A small well-formedness check: tags nest, `<` and `&` appear only as markup and entities.
fn assert_well_formed_xml(xml: &str) {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e)),
                "bare & in {text:?}"
            );
        }
        let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
        let tag = &rest[lt + 1..gt];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().expect("name").to_owned());
        }
        rest = &rest[gt + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(rest.trim().is_empty());
}

async fn sitemap_and_rss_are_escaped_xml_of_published_posts(h: OauthHarness) {
    let s = &h.server;
    let title = "Tom & Jerry <b>\"hi\"</b> </title><script>alert(1)</script>";
    let id = create_post(
        s,
        json!({"title": title, "excerpt": "a < b && c", "category": "R&D", "is_published": true}),
    )
    .await;
    create_post(s, json!({"title": "secret draft", "is_published": false})).await;
    for (path, ct) in [("/rss.xml", "application/rss+xml"), ("/sitemap.xml", "application/xml")] {
        let (status, headers, body) = s.raw_bytes(Method::GET, path, &[], "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"].to_str().expect("ct").starts_with(ct), "{path}");
        let xml = String::from_utf8(body.to_vec()).expect("utf-8");
        assert_well_formed_xml(&xml);
        assert!(!xml.contains("secret draft") && !xml.contains("<script>") && !xml.contains("<b>"), "{xml}");
        assert!(xml.contains(&format!("https://panel.example/blog/{id}")), "{xml}");
        if path == "/rss.xml" {
            assert!(
                xml.contains(
                    "Tom &amp; Jerry &lt;b&gt;&quot;hi&quot;&lt;/b&gt; &lt;/title&gt;&lt;script&gt;"
                ),
                "{xml}"
            );
            assert!(xml.contains("<category>R&amp;D</category>"));
            assert_eq!(xml.matches("<item>").count(), 1);
        }
    }
    // The JSON API carries the title as it is (JSON-escaped by the encoder).
    let (_, body) = s.call(Method::GET, &format!("/api/blog/posts/{id}"), Auth::None, None).await;
    assert_eq!(body["post"]["title"], title);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

fn form(field: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--BOUNDARY--\r\n");
    body
}

async fn upload(s: &TestServer, body: Vec<u8>, auth: bool) -> (StatusCode, Value) {
    let mut headers = vec![("content-type", "multipart/form-data; boundary=BOUNDARY")];
    if auth {
        headers.push(("x-admin-token", common::ADMIN_TOKEN));
    }
    let (status, _, json) = s.raw(Method::POST, "/api/admin/upload-image", &headers, body).await;
    (status, json)
}

/// Sends an upload over a raw socket, ignoring a refused write (the server may answer 413
/// and close before the body is in), and answers the status line.
async fn send_big(s: &TestServer, framing: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.expect("connect");
    let head = format!(
        "POST /api/admin/upload-image HTTP/1.1\r\nHost: test\r\nX-Admin-Token: {}\r\n\
         Content-Type: multipart/form-data; boundary=BOUNDARY\r\n{framing}\r\n",
        common::ADMIN_TOKEN
    );
    let (mut reader, mut writer) = stream.split();
    let chunked = framing.starts_with("Transfer-Encoding");
    let write = async {
        writer.write_all(head.as_bytes()).await?;
        for piece in body.chunks(64 * 1024) {
            if chunked {
                writer.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
                writer.write_all(piece).await?;
                writer.write_all(b"\r\n").await?;
            } else {
                writer.write_all(piece).await?;
            }
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let read = async {
        let mut buf = vec![0u8; 256];
        let n = reader.read(&mut buf).await.unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
    };
    let (_, status) = tokio::join!(write, read);
    status
}

async fn uploads_are_images_by_magic_bytes_under_random_names(h: OauthHarness) {
    let s = &h.server;
    let (status, body) = upload(s, form("image", "photo.png", PNG), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["image_url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/uploads/") && url.ends_with(".png") && !url.contains("photo"), "{url}");
    let (status, headers, bytes) = s.raw_bytes(Method::GET, &url, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&bytes[..], PNG, "byte for byte");
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // A JPEG named .png is stored as what it is.
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"JFIF rest"].concat();
    let (status, body) = upload(s, form("image", "x.png", &jpeg), true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["image_url"].as_str().is_some_and(|u| u.ends_with(".jpg")), "{body}");
    // Refused: PHP renamed .png, a path in the name, no image part, an empty file, not a form.
    let refused: Vec<(Vec<u8>, &str)> = vec![
        (form("image", "shell.png", b"<?php system($_GET['c']); ?>"), "unsupported_image_type"),
        (form("image", "../../etc/cron.d/x.png", PNG), "invalid_filename"),
        (form("image", "..\\x.png", PNG), "invalid_filename"),
        (form("photo", "photo.png", PNG), "missing_field"),
        (form("image", "empty.png", b""), "invalid_image"),
        (
            b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\ncut short".to_vec(),
            "invalid_multipart",
        ),
    ];
    for (body, code) in refused {
        let (status, answer) = upload(s, body, true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {answer}");
        assert_error_body(&answer, code);
    }
    let (status, _, answer) = s
        .raw(
            Method::POST,
            "/api/admin/upload-image",
            &[("x-admin-token", common::ADMIN_TOKEN), ("content-type", "image/png")],
            PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&answer, "invalid_multipart");
    // 12 MiB: 413, whether declared up front or streamed without a length.
    let mut big = PNG.to_vec();
    big.resize(12 * 1024 * 1024, 0);
    let body = form("image", "big.png", &big);
    let declared = format!("Content-Length: {}\r\n", body.len());
    for framing in [declared.as_str(), "Transfer-Encoding: chunked\r\n"] {
        let status = send_big(s, framing, &body).await;
        assert!(status.starts_with("HTTP/1.1 413"), "{framing}: {status}");
    }
    // Anonymous uploads are refused before the body is read.
    let (status, _) = upload(s, form("image", "photo.png", PNG), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Only names we generated are served.
    for path in [
        "/uploads/..%2F..%2Fetc%2Fpasswd",
        "/uploads/%2e%2e",
        "/uploads/photo.png",
        "/uploads/00000000000000000000000000000000.png",
        "/uploads/x.php",
    ] {
        let (status, _, _) = s.raw_bytes(Method::GET, path, &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let files = std::fs::read_dir(&h.upload_dir).expect("dir").count();
    assert_eq!(files, 2, "only the two images were written");
}

async fn admin_stats_are_numbers_from_the_ledger(h: OauthHarness) {
    let s = &h.server;
    let empty = stats(s).await;
    for k in [
        "total_users",
        "total_orders",
        "total_revenue",
        "pending_purchases",
        "today_orders",
        "today_revenue",
        "monthly_sales",
    ] {
        assert_eq!(empty[k], json!(0), "{k} is the number 0: {empty}");
    }
    s.register("buyer").await;
    s.adjust("buyer", 10_000).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let audit = NewAudit { actor: "test".into(), action: "test".into(), target: None, detail: "{}".into() };
    let svc = s
        .store
        .create_service(
            NewService {
                provider_service_id: "1".into(),
                name: "svc".into(),
                category: "c".into(),
                platform: "instagram".into(),
                service_type: "default".into(),
                price_per_1000: Points(1000),
                min_quantity: 10,
                max_quantity: 10_000,
                dripfeed: false,
                refill: false,
                cancel: true,
                is_active: true,
                description: String::new(),
            },
            audit,
            Millis(now),
        )
        .await
        .expect("service");
    for price in [1500, 700] {
        let order = NewOrder {
            user_id: "buyer".into(),
            service_id: svc.service_id,
            service_name: "svc".into(),
            link: "https://instagram.com/x".into(),
            quantity: 100,
            runs: None,
            interval_minutes: None,
            comments: None,
            price: Points(price),
            discount_amount: Points(0),
            final_price: Points(price),
            due_at: Millis(now + 3_600_000),
            status: snspmt_core::order::OrderStatus::Pending,
            scheduled_at: None,
            coupon_id: None,
            params: Default::default(),
        };
        s.store.place_order(order, None, Millis(now)).await.expect("order");
    }
    let first =
        s.store.orders(snspmt_store::OrderFilter { limit: 10, ..Default::default() }).await.expect("orders");
    let cheap = first.rows.iter().find(|o| o.final_price == Points(700)).expect("order").order_id;
    s.store.cancel_order(cheap, Millis(now)).await.expect("refund");
    let purchase = NewPurchase {
        user_id: "buyer".into(),
        method: PurchaseMethod::Bank,
        amount: Points(5000),
        price: Won(5000),
        buyer_name: Some("홍길동".into()),
        bank_info: None,
        ordr_idxx: None,
        good_name: None,
        pay_method: None,
    };
    s.store.create_purchase(purchase, None, Millis(now)).await.expect("purchase");
    let body = stats(s).await;
    assert_eq!(body["total_users"], 1);
    assert_eq!(body["total_orders"], 2);
    assert_eq!(body["total_revenue"], 1500, "charges minus refunds");
    assert_eq!(body["pending_purchases"], 1);
    assert_eq!(body["today_orders"], 2);
    assert_eq!(body["today_revenue"], 1500);
    assert_eq!(body["monthly_sales"], 1500);
}

async fn content_writes_need_the_admin(h: OauthHarness) {
    let s = &h.server;
    let token = s.register("plain").await;
    let cases: &[(Method, &str)] = &[
        (Method::GET, "/api/admin/notices"),
        (Method::POST, "/api/admin/notices"),
        (Method::PUT, "/api/admin/notices/1"),
        (Method::DELETE, "/api/admin/notices/1"),
        (Method::POST, "/api/blog/posts"),
        (Method::PUT, "/api/blog/posts/1"),
        (Method::DELETE, "/api/blog/posts/1"),
        (Method::GET, "/api/admin/blog/posts"),
        (Method::POST, "/api/admin/upload-image"),
        (Method::GET, "/api/admin/stats"),
    ];
    for (m, path) in cases {
        let (status, body) = s.call(m.clone(), path, Auth::None, Some(json!({"title": "x"}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {path}");
        assert_error_body(&body, "unauthorized");
        let (status, _) = s.call(m.clone(), path, Auth::Bearer(&token), Some(json!({"title": "x"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{m} {path}");
    }
    let (status, body) = s.call(Method::GET, "/api/admin/users?search=pla&limit=1", Auth::Admin, None).await;
    assert_eq!((status, &body["total"]), (StatusCode::OK, &json!(1)));
    assert_eq!(body["users"][0]["user_id"], "plain");
}
