//! Social identities, OAuth states, notices, the blog and the dashboard on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::queries as q;
use super::{insert_audit, is_unique_violation, rows, user_row, PgStore};
use crate::model::like_pattern;
use crate::{
    BlogStore, DashboardStats, DashboardStore, IdentityStore, LabelCount, Millis, NewAudit, NewNotice,
    NewPost, Notice, NoticeStore, Page, Post, PostFilter, SocialLink, SocialLogin, StoreError, StoreResult,
    User,
};

fn notice_row(r: &Row) -> StoreResult<Notice> {
    Ok(Notice {
        notice_id: r.try_get(0)?,
        title: r.try_get(1)?,
        content: r.try_get(2)?,
        image_url: r.try_get(3)?,
        popup_type: r.try_get(4)?,
        is_active: r.try_get(5)?,
        starts_at: r.try_get(6)?,
        ends_at: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
    })
}

fn post_row(r: &Row) -> StoreResult<Post> {
    let tags: String = r.try_get(5)?;
    Ok(Post {
        post_id: r.try_get(0)?,
        title: r.try_get(1)?,
        content: r.try_get(2)?,
        excerpt: r.try_get(3)?,
        category: r.try_get(4)?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Backend(format!("post tags: {e}")))?,
        thumbnail_url: r.try_get(6)?,
        is_published: r.try_get(7)?,
        view_count: r.try_get(8)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        published_at: r.try_get(11)?,
    })
}

fn label_row(r: &Row) -> StoreResult<LabelCount> {
    Ok(LabelCount { name: r.try_get(0)?, count: r.try_get(1)? })
}

fn tags_json(tags: &[String]) -> StoreResult<String> {
    serde_json::to_string(tags).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

async fn post_in(c: &impl GenericClient, id: i64) -> StoreResult<Post> {
    let st = c.prepare_cached(q::POST_BY_ID).await?;
    post_row(&c.query_opt(&st, &[&id]).await?.ok_or(StoreError::NotFound)?)
}

async fn replace_tags(c: &impl GenericClient, id: i64, tags: &[String]) -> StoreResult<()> {
    let st = c.prepare_cached(q::DELETE_POST_TAGS).await?;
    c.execute(&st, &[&id]).await?;
    let st = c.prepare_cached(q::INSERT_POST_TAG).await?;
    for tag in tags {
        c.execute(&st, &[&id, tag]).await?;
    }
    Ok(())
}

async fn link(c: &impl GenericClient, login: &SocialLogin, user_id: &str, now: Millis) -> StoreResult<()> {
    let st = c.prepare_cached(q::INSERT_IDENTITY).await?;
    c.execute(&st, &[&login.provider, &login.subject, &user_id, &now]).await.map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("identity_taken")
        } else {
            e.into()
        }
    })?;
    Ok(())
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn social_login(&self, login: SocialLogin, now: Millis) -> StoreResult<(User, SocialLink)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::IDENTITY_USER).await?;
        if let Some(row) = tx.query_opt(&st, &[&login.provider, &login.subject]).await? {
            return Ok((user_row(&row)?, SocialLink::Known));
        }
        let mut email = login.verified_email.clone();
        if let Some(address) = &login.verified_email {
            let st = tx.prepare_cached(q::USER_BY_EMAIL).await?;
            if let Some(row) = tx.query_opt(&st, &[address]).await? {
                let owner = user_row(&row)?;
                let st = tx.prepare_cached(q::PROVIDER_LINKED).await?;
                let linked: bool = tx.query_one(&st, &[&login.provider, &owner.user_id]).await?.try_get(0)?;
                if !linked {
                    link(&tx, &login, &owner.user_id, now).await?;
                    tx.commit().await?;
                    return Ok((owner, SocialLink::LinkedByEmail));
                }
                email = None;
            }
        }
        let u = &login.new_user;
        let st = tx.prepare_cached(q::USER_ID_EXISTS).await?;
        if tx.query_one(&st, &[&u.user_id]).await?.try_get::<_, bool>(0)? {
            return Err(StoreError::Conflict("user_id_taken"));
        }
        let st = tx.prepare_cached(q::INSERT_USER).await?;
        let row = tx
            .query_one(&st, &[&u.user_id, &email, &u.name, &u.display_name, &u.password_hash, &now])
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("identity_taken")
                } else {
                    e.into()
                }
            })?;
        let user = user_row(&row)?;
        link(&tx, &login, &user.user_id, now).await?;
        tx.commit().await?;
        Ok((user, SocialLink::Created))
    }

    async fn create_oauth_state(
        &self,
        state_hash: &str,
        provider: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::DELETE_EXPIRED_OAUTH_STATES).await?;
        tx.execute(&st, &[&now]).await?;
        let st = tx.prepare_cached(q::INSERT_OAUTH_STATE).await?;
        tx.execute(&st, &[&state_hash, &provider, &now, &expires_at]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn consume_oauth_state(&self, state_hash: &str, provider: &str, now: Millis) -> StoreResult<bool> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::CONSUME_OAUTH_STATE).await?;
        Ok(c.execute(&st, &[&state_hash, &provider, &now]).await? == 1)
    }
}

#[async_trait]
impl NoticeStore for PgStore {
    async fn create_notice(&self, n: NewNotice, audit: NewAudit, now: Millis) -> StoreResult<Notice> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::INSERT_NOTICE).await?;
        let row = tx
            .query_one(
                &st,
                &[
                    &n.title,
                    &n.content,
                    &n.image_url,
                    &n.popup_type,
                    &n.is_active,
                    &n.starts_at,
                    &n.ends_at,
                    &now,
                ],
            )
            .await?;
        let notice = notice_row(&row)?;
        let audit = NewAudit { target: Some(notice.notice_id.to_string()), ..audit };
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(notice)
    }

    async fn update_notice(
        &self,
        id: i64,
        n: NewNotice,
        audit: NewAudit,
        now: Millis,
    ) -> StoreResult<Notice> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::UPDATE_NOTICE).await?;
        let row = tx
            .query_opt(
                &st,
                &[
                    &id,
                    &n.title,
                    &n.content,
                    &n.image_url,
                    &n.popup_type,
                    &n.is_active,
                    &n.starts_at,
                    &n.ends_at,
                    &now,
                ],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        let notice = notice_row(&row)?;
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(notice)
    }

    async fn delete_notice(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::DELETE_NOTICE).await?;
        if tx.execute(&st, &[&id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn notice(&self, id: i64) -> StoreResult<Option<Notice>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::NOTICE_BY_ID).await?;
        c.query_opt(&st, &[&id]).await?.as_ref().map(notice_row).transpose()
    }

    async fn notices(&self, limit: i64, offset: i64) -> StoreResult<Page<Notice>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_NOTICES).await?;
        let found = rows(c.query(&st, &[&limit, &offset]).await?, notice_row)?;
        let st = c.prepare_cached(q::COUNT_NOTICES).await?;
        let total = c.query_one(&st, &[]).await?.try_get(0)?;
        Ok(Page { rows: found, total })
    }

    async fn active_notices(&self, now: Millis) -> StoreResult<Vec<Notice>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::ACTIVE_NOTICES).await?;
        rows(c.query(&st, &[&now]).await?, notice_row)
    }
}

#[async_trait]
impl BlogStore for PgStore {
    async fn create_post(&self, p: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::INSERT_POST).await?;
        let tags = tags_json(&p.tags)?;
        let id: i64 = tx
            .query_one(
                &st,
                &[
                    &p.title,
                    &p.content,
                    &p.excerpt,
                    &p.category,
                    &tags,
                    &p.thumbnail_url,
                    &p.is_published,
                    &now,
                ],
            )
            .await?
            .try_get(0)?;
        replace_tags(&tx, id, &p.tags).await?;
        let audit = NewAudit { target: Some(id.to_string()), ..audit };
        insert_audit(&tx, &audit, now).await?;
        let post = post_in(&tx, id).await?;
        tx.commit().await?;
        Ok(post)
    }

    async fn update_post(&self, id: i64, p: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::UPDATE_POST).await?;
        let tags = tags_json(&p.tags)?;
        let hit = tx
            .query_opt(
                &st,
                &[
                    &id,
                    &p.title,
                    &p.content,
                    &p.excerpt,
                    &p.category,
                    &tags,
                    &p.thumbnail_url,
                    &p.is_published,
                    &now,
                ],
            )
            .await?;
        if hit.is_none() {
            return Err(StoreError::NotFound);
        }
        replace_tags(&tx, id, &p.tags).await?;
        insert_audit(&tx, &audit, now).await?;
        let post = post_in(&tx, id).await?;
        tx.commit().await?;
        Ok(post)
    }

    async fn delete_post(&self, id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let st = tx.prepare_cached(q::DELETE_POST_TAGS).await?;
        tx.execute(&st, &[&id]).await?;
        let st = tx.prepare_cached(q::DELETE_POST).await?;
        if tx.execute(&st, &[&id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&tx, &audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn blog_post(&self, id: i64) -> StoreResult<Option<Post>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::POST_BY_ID).await?;
        c.query_opt(&st, &[&id]).await?.as_ref().map(post_row).transpose()
    }

    async fn view_post(&self, id: i64) -> StoreResult<Option<Post>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::VIEW_POST).await?;
        c.query_opt(&st, &[&id]).await?.as_ref().map(post_row).transpose()
    }

    async fn posts(&self, f: PostFilter) -> StoreResult<Page<Post>> {
        let pattern = like_pattern(f.search.as_deref());
        let c = self.client().await?;
        let st = c.prepare_cached(q::LIST_POSTS).await?;
        let found = rows(
            c.query(&st, &[&f.published_only, &pattern, &f.category, &f.tag, &f.limit, &f.offset]).await?,
            post_row,
        )?;
        let st = c.prepare_cached(q::COUNT_POSTS).await?;
        let total =
            c.query_one(&st, &[&f.published_only, &pattern, &f.category, &f.tag]).await?.try_get(0)?;
        Ok(Page { rows: found, total })
    }

    async fn blog_categories(&self) -> StoreResult<Vec<LabelCount>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::BLOG_CATEGORIES).await?;
        rows(c.query(&st, &[]).await?, label_row)
    }

    async fn blog_tags(&self) -> StoreResult<Vec<LabelCount>> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::BLOG_TAGS).await?;
        rows(c.query(&st, &[]).await?, label_row)
    }
}

#[async_trait]
impl DashboardStore for PgStore {
    async fn dashboard_stats(&self, today_start: Millis, month_start: Millis) -> StoreResult<DashboardStats> {
        let c = self.client().await?;
        let st = c.prepare_cached(q::DASHBOARD_STATS).await?;
        let r = c.query_one(&st, &[&today_start, &month_start]).await?;
        Ok(DashboardStats {
            total_users: r.try_get(0)?,
            total_orders: r.try_get(1)?,
            total_revenue: r.try_get(2)?,
            pending_purchases: r.try_get(3)?,
            today_orders: r.try_get(4)?,
            today_revenue: r.try_get(5)?,
            monthly_sales: r.try_get(6)?,
        })
    }
}
