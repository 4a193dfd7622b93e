//! Social identities, OAuth states, notices, the blog and the dashboard on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::queries as q;
use super::{insert_audit, is_unique_violation, user_row, SqliteStore};
use crate::model::like_pattern;
use crate::{
    BlogStore, DashboardStats, DashboardStore, IdentityStore, LabelCount, Millis, NewAudit, NewNotice,
    NewPost, Notice, NoticeStore, Page, Post, PostFilter, SocialLink, SocialLogin, StoreError, StoreResult,
    User,
};

fn notice_row(r: &Row<'_>) -> rusqlite::Result<Notice> {
    Ok(Notice {
        notice_id: r.get(0)?,
        title: r.get(1)?,
        content: r.get(2)?,
        image_url: r.get(3)?,
        popup_type: r.get(4)?,
        is_active: r.get(5)?,
        starts_at: r.get(6)?,
        ends_at: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn post_row(r: &Row<'_>) -> rusqlite::Result<Post> {
    let tags: String = r.get(5)?;
    Ok(Post {
        post_id: r.get(0)?,
        title: r.get(1)?,
        content: r.get(2)?,
        excerpt: r.get(3)?,
        category: r.get(4)?,
        tags: serde_json::from_str(&tags).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
        })?,
        thumbnail_url: r.get(6)?,
        is_published: r.get(7)?,
        view_count: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        published_at: r.get(11)?,
    })
}

fn label_row(r: &Row<'_>) -> rusqlite::Result<LabelCount> {
    Ok(LabelCount { name: r.get(0)?, count: r.get(1)? })
}

fn tags_json(tags: &[String]) -> StoreResult<String> {
    serde_json::to_string(tags).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

fn post_in(c: &Connection, id: i64) -> StoreResult<Post> {
    c.prepare_cached(q::POST_BY_ID)?.query_row([id], post_row).optional()?.ok_or(StoreError::NotFound)
}

fn replace_tags(tx: &Connection, id: i64, tags: &[String]) -> StoreResult<()> {
    tx.prepare_cached(q::DELETE_POST_TAGS)?.execute([id])?;
    let mut insert = tx.prepare_cached(q::INSERT_POST_TAG)?;
    for tag in tags {
        insert.execute(params![id, tag])?;
    }
    Ok(())
}

fn link(tx: &Connection, login: &SocialLogin, user_id: &str, now: Millis) -> StoreResult<()> {
    tx.prepare_cached(q::INSERT_IDENTITY)?
        .execute(params![login.provider, login.subject, user_id, now])
        .map_err(
            |e| if is_unique_violation(&e) { StoreError::Conflict("identity_taken") } else { e.into() },
        )?;
    Ok(())
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn social_login(&self, login: SocialLogin, now: Millis) -> StoreResult<(User, SocialLink)> {
        self.write(move |tx| {
            let known = tx
                .prepare_cached(q::IDENTITY_USER)?
                .query_row(params![login.provider, login.subject], user_row)
                .optional()?;
            if let Some(user) = known {
                return Ok((user, SocialLink::Known));
            }
            let mut email = login.verified_email.clone();
            if let Some(address) = &login.verified_email {
                let owner = tx.prepare_cached(q::USER_BY_EMAIL)?.query_row([address], user_row).optional()?;
                if let Some(owner) = owner {
                    let linked: bool = tx
                        .prepare_cached(q::PROVIDER_LINKED)?
                        .query_row(params![login.provider, owner.user_id], |r| r.get(0))?;
                    if !linked {
                        link(tx, &login, &owner.user_id, now)?;
                        return Ok((owner, SocialLink::LinkedByEmail));
                    }
                    // The address belongs to an account with another identity of this
                    // provider: a new account, without the address.
                    email = None;
                }
            }
            let u = &login.new_user;
            let taken: bool = tx.prepare_cached(q::USER_ID_EXISTS)?.query_row([&u.user_id], |r| r.get(0))?;
            if taken {
                return Err(StoreError::Conflict("user_id_taken"));
            }
            let user = tx.prepare_cached(q::INSERT_USER)?.query_row(
                params![u.user_id, email, u.name, u.display_name, u.password_hash, now],
                user_row,
            )?;
            link(tx, &login, &user.user_id, now)?;
            Ok((user, SocialLink::Created))
        })
        .await
    }

    async fn create_oauth_state(
        &self,
        state_hash: &str,
        provider: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        let (h, p) = (state_hash.to_owned(), provider.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(q::DELETE_EXPIRED_OAUTH_STATES)?.execute([now])?;
            tx.prepare_cached(q::INSERT_OAUTH_STATE)?.execute(params![h, p, now, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn consume_oauth_state(&self, state_hash: &str, provider: &str, now: Millis) -> StoreResult<bool> {
        let (h, p) = (state_hash.to_owned(), provider.to_owned());
        self.write(move |tx| Ok(tx.prepare_cached(q::CONSUME_OAUTH_STATE)?.execute(params![h, p, now])? == 1))
            .await
    }
}

#[async_trait]
impl NoticeStore for SqliteStore {
    async fn create_notice(&self, n: NewNotice, audit: NewAudit, now: Millis) -> StoreResult<Notice> {
        self.write(move |tx| {
            let notice = tx.prepare_cached(q::INSERT_NOTICE)?.query_row(
                params![
                    n.title,
                    n.content,
                    n.image_url,
                    n.popup_type,
                    n.is_active,
                    n.starts_at,
                    n.ends_at,
                    now
                ],
                notice_row,
            )?;
            let audit = NewAudit { target: Some(notice.notice_id.to_string()), ..audit };
            insert_audit(tx, &audit, now)?;
            Ok(notice)
        })
        .await
    }

    async fn update_notice(
        &self,
        id: i64,
        n: NewNotice,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Notice> {
        self.write(move |tx| {
            let notice = tx
                .prepare_cached(q::UPDATE_NOTICE)?
                .query_row(
                    params![
                        id,
                        n.title,
                        n.content,
                        n.image_url,
                        n.popup_type,
                        n.is_active,
                        n.starts_at,
                        n.ends_at,
                        now
                    ],
                    notice_row,
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            insert_audit(tx, &audit, now)?;
            Ok(notice)
        })
        .await
    }

    async fn delete_notice(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
        self.write(move |tx| {
            if tx.prepare_cached(q::DELETE_NOTICE)?.execute([id])? == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit(tx, &audit, now)?;
            Ok(())
        })
        .await
    }

    async fn notice(&self, id: i64) -> StoreResult<Option<Notice>> {
        self.read(move |c| Ok(c.prepare_cached(q::NOTICE_BY_ID)?.query_row([id], notice_row).optional()?))
            .await
    }

    async fn notices(&self, limit: i64, offset: i64) -> StoreResult<Page<Notice>> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_NOTICES)?
                .query_map(params![limit, offset], notice_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c.prepare_cached(q::COUNT_NOTICES)?.query_row([], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn active_notices(&self, now: Millis) -> StoreResult<Vec<Notice>> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::ACTIVE_NOTICES)?
                .query_map([now], notice_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[async_trait]
impl BlogStore for SqliteStore {
    async fn create_post(&self, p: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post> {
        self.write(move |tx| {
            let id: i64 = tx.prepare_cached(q::INSERT_POST)?.query_row(
                params![
                    p.title,
                    p.content,
                    p.excerpt,
                    p.category,
                    tags_json(&p.tags)?,
                    p.thumbnail_url,
                    p.is_published,
                    now
                ],
                |r| r.get(0),
            )?;
            replace_tags(tx, id, &p.tags)?;
            let audit = NewAudit { target: Some(id.to_string()), ..audit };
            insert_audit(tx, &audit, now)?;
            post_in(tx, id)
        })
        .await
    }

    async fn update_post(&self, id: i64, p: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post> {
        self.write(move |tx| {
            let hit = tx.prepare_cached(q::UPDATE_POST)?.exists(params![
                id,
                p.title,
                p.content,
                p.excerpt,
                p.category,
                tags_json(&p.tags)?,
                p.thumbnail_url,
                p.is_published,
                now
            ])?;
            if !hit {
                return Err(StoreError::NotFound);
            }
            replace_tags(tx, id, &p.tags)?;
            insert_audit(tx, &audit, now)?;
            post_in(tx, id)
        })
        .await
    }

    async fn delete_post(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
        self.write(move |tx| {
            tx.prepare_cached(q::DELETE_POST_TAGS)?.execute([id])?;
            if tx.prepare_cached(q::DELETE_POST)?.execute([id])? == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit(tx, &audit, now)?;
            Ok(())
        })
        .await
    }

    async fn blog_post(&self, id: i64) -> StoreResult<Option<Post>> {
        self.read(move |c| Ok(c.prepare_cached(q::POST_BY_ID)?.query_row([id], post_row).optional()?)).await
    }

    async fn view_post(&self, id: i64) -> StoreResult<Option<Post>> {
        self.write(move |tx| Ok(tx.prepare_cached(q::VIEW_POST)?.query_row([id], post_row).optional()?)).await
    }

    async fn posts(&self, f: PostFilter) -> StoreResult<Page<Post>> {
        let pattern = like_pattern(f.search.as_deref());
        self.read(move |c| {
            let rows = c
                .prepare_cached(q::LIST_POSTS)?
                .query_map(
                    params![f.published_only, pattern, f.category, f.tag, f.limit, f.offset],
                    post_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let total = c
                .prepare_cached(q::COUNT_POSTS)?
                .query_row(params![f.published_only, pattern, f.category, f.tag], |r| r.get(0))?;
            Ok(Page { rows, total })
        })
        .await
    }

    async fn blog_categories(&self) -> StoreResult<Vec<LabelCount>> {
        self.read(|c| {
            Ok(c.prepare_cached(q::BLOG_CATEGORIES)?.query_map([], label_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn blog_tags(&self) -> StoreResult<Vec<LabelCount>> {
        self.read(|c| {
            Ok(c.prepare_cached(q::BLOG_TAGS)?.query_map([], label_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[async_trait]
impl DashboardStore for SqliteStore {
    async fn dashboard_stats(&self, today_start: Millis, month_start: Millis) -> StoreResult<DashboardStats> {
        self.read(move |c| {
            Ok(c.prepare_cached(q::DASHBOARD_STATS)?.query_row(params![today_start, month_start], |r| {
                Ok(DashboardStats {
                    total_users: r.get(0)?,
                    total_orders: r.get(1)?,
                    total_revenue: r.get(2)?,
                    pending_purchases: r.get(3)?,
                    today_orders: r.get(4)?,
                    today_revenue: r.get(5)?,
                    monthly_sales: r.get(6)?,
                })
            })?)
        })
        .await
    }
}
