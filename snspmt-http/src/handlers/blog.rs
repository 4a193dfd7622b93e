//! The blog: public reads (published posts only), admin writes, the sitemap and the RSS feed.

use hyper::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use snspmt_store::{LabelCount, Millis, NewAudit, NewPost, Post, PostFilter, StoreError};

use super::bytes;
use super::notices::{body_text, line, path_id, present, url, MAX_TITLE_CHARS};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::{Json, Raw, Xml};
use crate::views::{self, PostView};
use crate::App;

pub const MAX_POST_CHARS: usize = 200_000;
pub const MAX_EXCERPT_CHARS: usize = 500;
pub const MAX_LABEL_CHARS: usize = 50;
pub const MAX_TAGS: usize = 20;
/// Entries in the sitemap and the feed.
pub const FEED_POSTS: i64 = 1000;
pub const RSS_ITEMS: i64 = 50;

/// The largest `page` of a post list.
const MAX_PAGE: u32 = 1_000_000;
/// The largest `limit` of a post list.
const MAX_PAGE_SIZE: u32 = 100;

/// `GET /api/blog/posts` and `GET /api/admin/blog/posts`.
#[derive(Deserialize, JsonSchema)]
pub struct PostsQuery {
    /// The page, from 1 (the default) to 1,000,000.
    #[schemars(range(min = 1, max = 1_000_000))]
    page: Option<u32>,
    /// Posts per page, from 1 to 100 (default 10).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
    /// Only posts whose title, excerpt or content contains this text.
    search: Option<String>,
    /// Only posts of this category.
    category: Option<String>,
    /// Only posts with this tag.
    tag: Option<String>,
}

/// `value` of the query parameter `name`, which must be in `1..=max` (400 `invalid_query`).
fn in_range(name: &str, value: Option<u32>, max: u32) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if !(1..=max).contains(&v) => Err(ApiError::invalid_field(
            name,
            "invalid_query",
            format!("{name} must be an integer from 1 to {max}"),
        )),
        v => Ok(v.map(i64::from)),
    }
}

/// Where a page of posts sits in the whole list.
#[derive(Serialize, JsonSchema)]
pub struct Pagination {
    page: i64,
    limit: i64,
    /// Posts matching in all.
    total: i64,
    /// Pages in all.
    pages: i64,
}

/// A page of posts.
#[derive(Serialize, JsonSchema)]
pub struct Posts {
    success: bool,
    posts: Vec<PostView>,
    pagination: Pagination,
}

pub async fn list(app: &App, req: &Req, published_only: bool) -> Result<Json<Posts>, ApiError> {
    let query: PostsQuery = req.query_as()?;
    let page = in_range("page", query.page, MAX_PAGE)?.unwrap_or(1);
    let limit = in_range("limit", query.limit, MAX_PAGE_SIZE)?.unwrap_or(10);
    let filter = PostFilter {
        published_only,
        search: query.search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        category: query.category,
        tag: query.tag,
        limit,
        offset: (page - 1) * limit,
    };
    let found = app.store.posts(filter).await?;
    let pages = (found.total + limit - 1) / limit;
    Ok(Json(Posts {
        success: true,
        posts: found.rows.iter().map(shown).collect(),
        pagination: Pagination { page, limit, total: found.total, pages },
    }))
}

/// A post's HTML with only what is safe to show: the allow-list of the `ammonia` sanitizer
/// (formatting, headings, lists, links, images, code, quotes and tables are kept; scripts,
/// event handler attributes such as `onerror=`, `style`, and `javascript:` or `data:` URLs are
/// removed; links get `rel="noopener noreferrer"`). Applied when a post is written and again
/// when it is read, so rows stored before sanitizing are served clean too. Text without `<`
/// holds no markup and is returned as it is.
pub fn clean_html(html: &str) -> String {
    if html.contains('<') {
        ammonia::clean(html)
    } else {
        html.to_owned()
    }
}

/// A post as answered, its content sanitized.
fn shown(p: &Post) -> PostView {
    let mut v = views::post(p);
    v.content = clean_html(&p.content);
    v
}

/// A published post; each read counts a view.
/// One post, and whatever its change or read did.
#[derive(Serialize, JsonSchema)]
pub struct OnePost {
    success: bool,
    /// Its content sanitized.
    post: PostView,
}

/// A published post; each read counts a view.
pub async fn view(app: &App, id: &str) -> Result<Json<OnePost>, ApiError> {
    let id = path_id("post", id)?;
    let post = app.store.view_post(id).await?.ok_or_else(|| ApiError::not_found("post"))?;
    Ok(Json(OnePost { success: true, post: shown(&post) }))
}

/// A category or a tag, and how many published posts have it.
#[derive(Serialize, JsonSchema)]
pub struct Label {
    name: String,
    count: i64,
}

fn labels(found: &[LabelCount]) -> Vec<Label> {
    found.iter().map(|c| Label { name: c.name.clone(), count: c.count }).collect()
}

/// The blog's categories.
#[derive(Serialize, JsonSchema)]
pub struct Categories {
    success: bool,
    categories: Vec<Label>,
}

pub async fn categories(app: &App) -> Result<Json<Categories>, ApiError> {
    let found = app.store.blog_categories().await?;
    Ok(Json(Categories { success: true, categories: labels(&found) }))
}

/// The blog's tags.
#[derive(Serialize, JsonSchema)]
pub struct Tags {
    success: bool,
    tags: Vec<Label>,
}

pub async fn tags(app: &App) -> Result<Json<Tags>, ApiError> {
    let found = app.store.blog_tags().await?;
    Ok(Json(Tags { success: true, tags: labels(&found) }))
}

/// Tags as a JSON list or as one comma-separated string.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TagList {
    List(Vec<String>),
    Text(String),
}

/// A post as the operator sends it; on update, absent fields keep their value. On create,
/// `title` is required.
#[derive(Deserialize, JsonSchema)]
pub struct PostBody {
    /// One line, 1 to 200 characters.
    title: Option<String>,
    /// HTML (sanitized when stored), at most 200,000 characters.
    content: Option<String>,
    /// At most 500 characters; derived from the content when not given.
    excerpt: Option<String>,
    /// At most 50 characters; empty for none.
    category: Option<String>,
    /// At most 20 distinct tags of at most 50 characters each.
    tags: Option<TagList>,
    /// Our own path (`/uploads/…`) or an http(s) URL; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    thumbnail_url: Option<Option<String>>,
    /// A new post is a draft unless this is `true`.
    is_published: Option<bool>,
}

fn parse_tags(t: TagList) -> Result<Vec<String>, ApiError> {
    let raw: Vec<String> = match t {
        TagList::List(v) => v,
        TagList::Text(s) => s.split(',').map(str::to_owned).collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        let tag = line("tags", tag, MAX_LABEL_CHARS)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid_field("tags", "too_many_tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// The first characters of the content, on one line, when no excerpt is given.
fn derived_excerpt(content: &str) -> String {
    let flat: String = content.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(160).collect()
}

fn merged(body: PostBody, base: Option<&Post>) -> Result<NewPost, ApiError> {
    let title = match (body.title.as_deref(), base) {
        (Some(t), _) => line("title", t, MAX_TITLE_CHARS)?,
        (None, Some(b)) => b.title.clone(),
        (None, None) => return Err(ApiError::invalid_field("title", "missing_field", "title is required")),
    };
    let content = match (body.content.as_deref(), base) {
        (Some(c), _) => clean_html(&body_text("content", c, MAX_POST_CHARS)?),
        (None, Some(b)) => clean_html(&b.content),
        (None, None) => String::new(),
    };
    let excerpt = match (body.excerpt.as_deref(), base) {
        (Some(e), _) => body_text("excerpt", e.trim(), MAX_EXCERPT_CHARS)?,
        (None, Some(b)) if body.content.is_none() => b.excerpt.clone(),
        _ => derived_excerpt(&content),
    };
    let category = match (body.category.as_deref(), base) {
        (Some(c), _) if c.trim().is_empty() => String::new(),
        (Some(c), _) => line("category", c, MAX_LABEL_CHARS)?,
        (None, Some(b)) => b.category.clone(),
        (None, None) => String::new(),
    };
    let tags = match (body.tags, base) {
        (Some(t), _) => parse_tags(t)?,
        (None, Some(b)) => b.tags.clone(),
        (None, None) => Vec::new(),
    };
    let thumbnail_url = match body.thumbnail_url {
        Some(Some(u)) => url("thumbnail_url", &u)?,
        Some(None) => None,
        None => base.and_then(|b| b.thumbnail_url.clone()),
    };
    // A new post is a draft unless it says otherwise.
    let is_published = body.is_published.or(base.map(|b| b.is_published)).unwrap_or(false);
    Ok(NewPost { title, content, excerpt, category, tags, thumbnail_url, is_published })
}

fn audit(caller: &Caller, action: &str, target: Option<String>, p: Option<&NewPost>) -> NewAudit {
    NewAudit {
        actor: caller.actor(),
        action: action.into(),
        target,
        detail: match p {
            Some(p) => json!({"title": p.title, "category": p.category, "tags": p.tags,
                "is_published": p.is_published})
            .to_string(),
            None => "{}".into(),
        },
    }
}

pub async fn create(app: &App, caller: &Caller, req: &Req) -> Result<Json<OnePost>, ApiError> {
    let post = merged(req.json()?, None)?;
    let audit = audit(caller, "blog.create", None, Some(&post));
    let stored = app.store.create_post(post, audit, app.clock.now()).await?;
    Ok(Json(OnePost { success: true, post: shown(&stored) }))
}

pub async fn update(app: &App, caller: &Caller, id: &str, req: &Req) -> Result<Json<OnePost>, ApiError> {
    let id = path_id("post", id)?;
    let body: PostBody = req.json()?;
    let base = app.store.blog_post(id).await?.ok_or_else(|| ApiError::not_found("post"))?;
    let post = merged(body, Some(&base))?;
    let audit = audit(caller, "blog.update", Some(id.to_string()), Some(&post));
    let stored = app.store.update_post(id, post, audit, app.clock.now()).await?;
    Ok(Json(OnePost { success: true, post: shown(&stored) }))
}

/// The post is gone.
#[derive(Serialize, JsonSchema)]
pub struct PostDeleted {
    success: bool,
}

pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<Json<PostDeleted>, ApiError> {
    let id = path_id("post", id)?;
    let audit = audit(caller, "blog.delete", Some(id.to_string()), None);
    app.store.delete_post(id, audit, app.clock.now()).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("post"),
        other => other.into(),
    })?;
    Ok(Json(PostDeleted { success: true }))
}

/// Text for XML character data and attribute values: the five special characters escaped,
/// and characters XML 1.0 cannot carry at all dropped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

async fn published(app: &App, limit: i64) -> Result<Vec<Post>, ApiError> {
    let filter = PostFilter { published_only: true, limit, offset: 0, ..Default::default() };
    Ok(app.store.posts(filter).await?.rows)
}

fn post_url(app: &App, p: &Post) -> String {
    format!("{}/blog/{}", app.config.public_url, p.post_id)
}

/// `/sitemap.xml`: the site's pages and every published post.
pub async fn sitemap(app: &App) -> Result<Raw, ApiError> {
    let posts = published(app, FEED_POSTS).await?;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for page in ["", "/blog"] {
        xml.push_str(&format!(
            "  <url><loc>{}</loc></url>\n",
            xml_escape(&format!("{}{page}", app.config.public_url))
        ));
    }
    for p in &posts {
        xml.push_str(&format!(
            "  <url><loc>{}</loc><lastmod>{}</lastmod></url>\n",
            xml_escape(&post_url(app, p)),
            xml_escape(&views::rfc3339(p.updated_at)),
        ));
    }
    xml.push_str("</urlset>\n");
    Ok(bytes(StatusCode::OK, "application/xml; charset=utf-8", xml))
}

/// RFC 822 date for RSS.
fn rfc822(ms: Millis) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
    );
    views::utc(ms).and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// `/rss.xml`: the newest published posts.
pub async fn rss(app: &App) -> Result<Raw, ApiError> {
    let posts = published(app, RSS_ITEMS).await?;
    let base = &app.config.public_url;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n<title>{}</title>\n\
         <link>{}</link>\n<description>{}</description>\n",
        xml_escape("snspmt 블로그"),
        xml_escape(&format!("{base}/blog")),
        xml_escape("SNS 마케팅 소식"),
    );
    for p in &posts {
        let link = post_url(app, p);
        xml.push_str(&format!(
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"true\">{}</guid>\
             <description>{}</description>{}<pubDate>{}</pubDate></item>\n",
            xml_escape(&p.title),
            xml_escape(&link),
            xml_escape(&link),
            xml_escape(&p.excerpt),
            if p.category.is_empty() {
                String::new()
            } else {
                format!("<category>{}</category>", xml_escape(&p.category))
            },
            rfc822(p.published_at.unwrap_or(p.created_at)),
        ));
    }
    xml.push_str("</channel>\n</rss>\n");
    Ok(bytes(StatusCode::OK, "application/rss+xml; charset=utf-8", xml))
}

crate::router::route_table! {
    BlogPosts: GET "/api/blog/posts", Public, "blog.posts",
        query PostsQuery, reply Json<Posts>,
        |app, _, req| list(app, req, true);
    AdminCreatePost: POST "/api/blog/posts", Admin, "admin.blog.posts.create",
        body PostBody, reply Json<OnePost>,
        |app, caller, req| create(app, caller, req);
    BlogPost: GET "/api/blog/posts/{id}", Public, "blog.posts.get",
        reply Json<OnePost>,
        |app, _, _, id| view(app, id);
    AdminUpdatePost: PUT "/api/blog/posts/{id}", Admin, "admin.blog.posts.update",
        body PostBody, reply Json<OnePost>,
        |app, caller, req, id| update(app, caller, id, req);
    AdminDeletePost: DELETE "/api/blog/posts/{id}", Admin, "admin.blog.posts.delete",
        reply Json<PostDeleted>,
        |app, caller, _, id| delete(app, caller, id);
    BlogCategories: GET "/api/blog/categories", Public, "blog.categories",
        reply Json<Categories>,
        |app, _, _| categories(app);
    BlogTags: GET "/api/blog/tags", Public, "blog.tags",
        reply Json<Tags>,
        |app, _, _| tags(app);
    AdminBlogPosts: GET "/api/admin/blog/posts", Admin, "admin.blog.posts",
        query PostsQuery, reply Json<Posts>,
        |app, _, req| list(app, req, false);
    Sitemap: GET "/sitemap.xml", Public, "sitemap", reply Xml,
        |app, _, _| async move { sitemap(app).await.map(Xml) };
    Rss: GET "/rss.xml", Public, "rss", reply Xml,
        |app, _, _| async move { rss(app).await.map(Xml) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(
            xml_escape("<a href=\"x\">T&C's</a>"),
            "&lt;a href=&quot;x&quot;&gt;T&amp;C&apos;s&lt;/a&gt;"
        );
        assert_eq!(xml_escape("a\u{0}b\u{1b}c\td"), "abc\td");
        assert_eq!(xml_escape("한글"), "한글");
    }

    #[test]
    fn rss_dates() {
        assert_eq!(rfc822(Millis(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc822(Millis(1_700_000_000_123)), "Tue, 14 Nov 2023 22:13:20 +0000");
    }

    #[test]
    fn html_is_sanitized_and_formatting_kept() {
        let dirty = "<p>Hi <script>alert(1)</script><img src=\"x.png\" onerror=\"alert(2)\">\
            <a href=\"javascript:alert(3)\">x</a></p>";
        let clean = clean_html(dirty);
        for bad in ["<script", "alert(1)", "onerror", "javascript:"] {
            assert!(!clean.contains(bad), "{bad} in {clean}");
        }
        assert!(clean.contains("<img src=\"x.png\">"), "{clean}");
        assert_eq!(clean_html(&clean), clean, "sanitizing twice changes nothing");
        assert_eq!(clean_html("a & b > c"), "a & b > c", "text without markup is kept");
    }

    #[test]
    fn excerpts() {
        assert_eq!(derived_excerpt("  a\n\n b  c "), "a b c");
        assert_eq!(derived_excerpt(&"가".repeat(300)).chars().count(), 160);
    }
}
