//! Social identities, OAuth states, notices, the blog and the dashboard, once for both backends.

use super::{audited, changed, insert_audit, one, page, rows, serialize};
use crate::model::like_pattern;
use crate::ops::accounts::{user_row, INSERT_USER, USER_ID_EXISTS};
use crate::sql::{unique_as, Conn, Param, Row};
use crate::{
    Conflict, DashboardStats, LabelCount, Millis, NewAudit, NewNotice, NewPost, Notice, Page, Post,
    PostFilter, SocialLink, SocialLogin, StoreError, StoreResult, User,
};

macro_rules! notice_cols {
    () => {
        "notice_id, title, content, image_url, popup_type, is_active, starts_at, ends_at, created_at, updated_at, \
         login_popup_image_url"
    };
}
macro_rules! post_cols {
    () => {
        "post_id, title, content, excerpt, category, tags, thumbnail_url, is_published, view_count, \
         created_at, updated_at, published_at"
    };
}

const DELETE_NOTICE: &str = "DELETE FROM notices WHERE notice_id = $1";
const NOTICE_BY_ID: &str = concat!("SELECT ", notice_cols!(), " FROM notices WHERE notice_id = $1");
const LIST_NOTICES: &str =
    concat!("SELECT ", notice_cols!(), " FROM notices ORDER BY notice_id DESC LIMIT $1 OFFSET $2");
const COUNT_NOTICES: &str = "SELECT COUNT(*) FROM notices";
const ACTIVE_NOTICES: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE is_active AND (starts_at IS NULL OR starts_at <= $1) ",
    "AND (ends_at IS NULL OR ends_at > $1) ORDER BY notice_id DESC"
);

const INSERT_POST: &str = "INSERT INTO blog_posts (title, content, excerpt, category, tags, \
    thumbnail_url, is_published, created_at, updated_at, published_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, CASE WHEN $7::boolean THEN $8::bigint ELSE NULL END) RETURNING post_id";
const UPDATE_POST: &str = "UPDATE blog_posts SET title = $1, content = $2, excerpt = $3, category = $4, \
    tags = $5, thumbnail_url = $6, is_published = $7, updated_at = $8, \
    published_at = CASE WHEN $7::boolean THEN COALESCE(published_at, $8::bigint) ELSE published_at END \
    WHERE post_id = $9 RETURNING post_id";
const DELETE_POST: &str = "DELETE FROM blog_posts WHERE post_id = $1";
const DELETE_POST_TAGS: &str = "DELETE FROM blog_post_tags WHERE post_id = $1";
const INSERT_POST_TAG: &str = "INSERT INTO blog_post_tags (post_id, tag) VALUES ($1, $2)";
const POST_BY_ID: &str = concat!("SELECT ", post_cols!(), " FROM blog_posts WHERE post_id = $1");
const VIEW_POST: &str = concat!(
    "UPDATE blog_posts SET view_count = view_count + 1 WHERE post_id = $1 AND is_published RETURNING ",
    post_cols!()
);
const POST_PAGE: (&str, &str) = paged!(
    post_cols,
    "FROM blog_posts WHERE ($1 = FALSE OR is_published) AND ($2::text IS NULL OR title ILIKE $2 ESCAPE '\\' \
    OR excerpt ILIKE $2 ESCAPE '\\' OR content ILIKE $2 ESCAPE '\\') AND ($3::text IS NULL OR category = $3) \
    AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM blog_post_tags t WHERE t.post_id = blog_posts.post_id \
    AND t.tag = $4))",
    "ORDER BY post_id DESC LIMIT $5 OFFSET $6"
);
const BLOG_CATEGORIES: &str = "SELECT category, COUNT(*) FROM blog_posts \
    WHERE is_published AND category <> '' GROUP BY category ORDER BY category";
const BLOG_TAGS: &str = "SELECT t.tag, COUNT(*) FROM blog_post_tags t \
    JOIN blog_posts p ON p.post_id = t.post_id WHERE p.is_published GROUP BY t.tag ORDER BY t.tag";

const DASHBOARD_STATS: &str = "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM orders), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger WHERE kind IN ('order_charge', 'order_refund')), \
    (SELECT COUNT(*) FROM point_purchases WHERE status = 'pending'), \
    (SELECT COUNT(*) FROM orders WHERE created_at >= $1::bigint), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger \
        WHERE kind IN ('order_charge', 'order_refund') AND created_at >= $1), \
    (SELECT COALESCE(-SUM(amount), 0)::bigint FROM points_ledger \
        WHERE kind IN ('order_charge', 'order_refund') AND created_at >= $2::bigint)";

row_mapper!(notice_row -> Notice {
    notice_id, title, content, image_url, popup_type, is_active, starts_at, ends_at, created_at,
    updated_at, login_popup_image_url,
});

row_mapper!(post_row -> Post {
    post_id, title, content, excerpt, category, tags: json, thumbnail_url, is_published, view_count,
    created_at, updated_at, published_at,
});

row_mapper!(stats_row -> DashboardStats {
    total_users, total_orders, total_revenue, pending_purchases, today_orders, today_revenue, monthly_sales,
});

row_mapper!(label_row -> LabelCount { name, count });

async fn link<C: Conn>(c: &mut C, login: &SocialLogin, user_id: &str, now: Millis) -> StoreResult<()> {
    let sql = "INSERT INTO user_identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)";
    c.execute(sql, &[&login.provider, &login.subject, &user_id, &now])
        .await
        .map_err(unique_as(StoreError::Conflict(Conflict::IdentityTaken)))?;
    Ok(())
}

async fn social_login<C: Conn>(
    c: &mut C,
    login: &SocialLogin,
    now: Millis,
) -> StoreResult<(User, SocialLink)> {
    let sql = concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE user_id = ",
        "(SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2)"
    );
    if let Some(row) = c.query_opt(sql, &[&login.provider, &login.subject]).await? {
        return Ok((user_row(&row)?, SocialLink::Known));
    }
    let mut email = login.verified_email.clone();
    if let Some(address) = &login.verified_email {
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1");
        if let Some(row) = c.query_opt(sql, &[address]).await? {
            let owner = user_row(&row)?;
            if owner.email_verified
                && !c
                    .scalar::<bool>(
                        "SELECT EXISTS (SELECT 1 FROM user_identities WHERE provider = $1 AND user_id = $2)",
                        &[&login.provider, &owner.user_id],
                    )
                    .await?
            {
                link(c, login, &owner.user_id, now).await?;
                return Ok((owner, SocialLink::LinkedByEmail));
            }
            // The address is only claimed (unverified: maybe by someone else), or its account
            // has another identity of this provider: a new account, without the address.
            email = None;
        }
    }
    let u = &login.new_user;
    if c.scalar::<bool>(USER_ID_EXISTS, &[&u.user_id]).await? {
        return Err(StoreError::Conflict(Conflict::UserIdTaken));
    }
    // A concurrent first login (PostgreSQL) may take the account between the checks and here.
    let row = c
        .query_one(
            INSERT_USER,
            &[&u.user_id, &email, &u.name, &u.display_name, &u.password_hash, &now, &email.is_some()],
        )
        .await
        .map_err(unique_as(StoreError::Conflict(Conflict::IdentityTaken)))?;
    let user = user_row(&row)?;
    link(c, login, &user.user_id, now).await?;
    Ok((user, SocialLink::Created))
}

/// The audit of a save: a new row (`id` is `None`) is named by the id it was given.
fn audit_of_save(audit: NewAudit, id: Option<i64>, saved_id: i64) -> NewAudit {
    match id {
        None => NewAudit { target: Some(saved_id.to_string()), ..audit },
        Some(_) => audit,
    }
}

/// Creates a notice (`id` is `None`) or rewrites notice `id`. Audited.
async fn save_notice<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    n: &NewNotice,
    audit: NewAudit,
    now: Millis,
) -> StoreResult<Notice> {
    let args: [&dyn Param; 10] = [
        &n.title,
        &n.content,
        &n.image_url,
        &n.popup_type,
        &n.is_active,
        &n.starts_at,
        &n.ends_at,
        &now,
        &n.login_popup_image_url,
        &id,
    ];
    let found = match id {
        None => {
            let sql = concat!(
                "INSERT INTO notices (title, content, image_url, popup_type, is_active, starts_at, ",
                "ends_at, created_at, updated_at, login_popup_image_url) ",
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING ",
                notice_cols!()
            );
            c.query_opt(sql, &args[..9]).await?
        }
        Some(_) => {
            let sql = concat!(
                "UPDATE notices SET title = $1, content = $2, image_url = $3, popup_type = $4, ",
                "is_active = $5, starts_at = $6, ends_at = $7, updated_at = $8, login_popup_image_url = $9 ",
                "WHERE notice_id = $10 RETURNING ",
                notice_cols!()
            );
            c.query_opt(sql, &args).await?
        }
    };
    let notice = notice_row(&found.ok_or(StoreError::NotFound)?)?;
    audited(c, &audit_of_save(audit, id, notice.notice_id), now, notice).await
}

/// Creates a post (`id` is `None`) or rewrites post `id`, with its tags. Audited.
async fn save_post<C: Conn>(
    c: &mut C,
    id: Option<i64>,
    p: &NewPost,
    audit: NewAudit,
    now: Millis,
) -> StoreResult<Post> {
    let tags = serialize(&p.tags)?;
    let args: [&dyn Param; 9] =
        [&p.title, &p.content, &p.excerpt, &p.category, &tags, &p.thumbnail_url, &p.is_published, &now, &id];
    let found = match id {
        None => c.query_opt(INSERT_POST, &args[..8]).await?,
        Some(_) => c.query_opt(UPDATE_POST, &args).await?,
    };
    let post_id: i64 = found.ok_or(StoreError::NotFound)?.get(0)?;
    c.execute(DELETE_POST_TAGS, &[&post_id]).await?;
    for tag in &p.tags {
        c.execute(INSERT_POST_TAG, &[&post_id, tag]).await?;
    }
    insert_audit(c, &audit_of_save(audit, id, post_id), now).await?;
    post_row(&c.query_opt(POST_BY_ID, &[&post_id]).await?.ok_or(StoreError::NotFound)?)
}

/// Deletes row `id` with `sql` and audits it; `NotFound` when there was no such row.
async fn delete<C: Conn>(
    c: &mut C,
    sql: &'static str,
    id: i64,
    audit: &NewAudit,
    now: Millis,
) -> StoreResult<()> {
    changed(c.execute(sql, &[&id]).await?)?;
    insert_audit(c, audit, now).await.map(drop)
}

/// True when a text filter holds NUL: no stored text can match it (neither backend stores NUL),
/// and PostgreSQL refuses it as a parameter.
fn has_nul(filter: Option<&str>) -> bool {
    filter.is_some_and(|s| s.contains('\0'))
}

store_trait! {
    /// Sign-in through identity providers (Kakao, Google) and the OAuth `state`s we issue.
    pub trait IdentityStore {
        /// Finds or creates the account of a verified provider identity, in one transaction:
        /// the account already linked to `(provider, subject)`; else the account whose e-mail is
        /// `verified_email` when that account's own e-mail is verified too (then the identity is
        /// linked to it, unless that account has another identity of this provider); else a new
        /// account (`new_user`, with `verified_email`, marked verified, when no account has it; an
        /// address only claimed by an unverified account stays there, and the new account has
        /// none). Nothing else in a request can choose the account.
        async fn social_login(&self, login: SocialLogin, now: Millis) -> StoreResult<(User, SocialLink)> {
            self.tx(async move |c| social_login(c, &login, now).await).await
        }

        /// Stores an issued OAuth `state` (by its hash) until `expires_at`; forgets expired ones.
        async fn create_oauth_state(
            &self,
            state_hash: &str,
            provider: &str,
            now: Millis,
            expires_at: Millis,
        ) -> StoreResult<()> {
            let (h, p) = (state_hash.to_owned(), provider.to_owned());
            self.tx(async move |c| {
                // Expired states are forgotten as new ones come.
                c.execute("DELETE FROM oauth_states WHERE expires_at <= $1", &[&now]).await?;
                let sql = "INSERT INTO oauth_states (state_hash, provider, created_at, expires_at) \
                    VALUES ($1, $2, $3, $4)";
                c.execute(sql, &[&h, &p, &now, &expires_at]).await.map(drop)
            })
            .await
        }

        /// Uses up a state: `true` once, for an unexpired state of `provider` we issued.
        async fn consume_oauth_state(
            &self,
            state_hash: &str,
            provider: &str,
            now: Millis,
        ) -> StoreResult<bool> {
            let (h, p) = (state_hash.to_owned(), provider.to_owned());
            let sql = "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2 AND expires_at > $3";
            self.tx(async move |c| Ok(c.execute(sql, &[&h, &p, &now]).await? == 1)).await
        }
    }
}

store_trait! {
    /// Notices (popups) and when they show.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::{NewNotice, NoticeStore};
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// # let audit = snspmt_store::testing::example_audit;
    /// // Shown from 1,000 ms to 2,000 ms since the epoch.
    /// let maintenance = NewNotice {
    ///     title: "Maintenance".into(),
    ///     content: "The panel pauses at 03:00.".into(),
    ///     image_url: None,
    ///     popup_type: "modal".into(),
    ///     is_active: true,
    ///     starts_at: Some(Millis(1_000)),
    ///     ends_at: Some(Millis(2_000)),
    ///     login_popup_image_url: None,
    /// };
    /// let notice = store.create_notice(maintenance, audit(), Millis(500)).await?;
    /// assert!(store.active_notices(Millis(999)).await?.is_empty());
    /// assert_eq!(store.active_notices(Millis(1_500)).await?, [notice]);
    /// assert!(store.active_notices(Millis(2_000)).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub trait NoticeStore {
        async fn create_notice(
            &self,
            notice: NewNotice,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Notice> {
            self.tx(async move |c| save_notice(c, None, &notice, audit, now).await).await
        }

        /// Replaces the editable fields. `NotFound` for an unknown notice.
        async fn update_notice(
            &self,
            notice_id: i64,
            notice: NewNotice,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Notice> {
            self.tx(async move |c| save_notice(c, Some(notice_id), &notice, audit, now).await).await
        }

        /// `NotFound` for an unknown notice.
        async fn delete_notice(&self, notice_id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
            self.tx(async move |c| delete(c, DELETE_NOTICE, notice_id, &audit, now).await).await
        }

        async fn notice(&self, notice_id: i64) -> StoreResult<Option<Notice>> {
            self.rd(async move |c| one(c, NOTICE_BY_ID, &[&notice_id], notice_row).await).await
        }

        /// Every notice, newest first.
        async fn notices(&self, limit: i64, offset: i64) -> StoreResult<Page<Notice>> {
            self.rd(async move |c| {
                page(c, (LIST_NOTICES, COUNT_NOTICES), &[], limit, offset, notice_row).await
            })
            .await
        }

        /// Active notices whose window contains `now` (`starts_at <= now < ends_at`, an open end
        /// when unset), newest first.
        async fn active_notices(&self, now: Millis) -> StoreResult<Vec<Notice>> {
            self.rd(async move |c| rows(c, ACTIVE_NOTICES, &[&now], notice_row).await).await
        }
    }
}

store_trait! {
    /// The blog.
    pub trait BlogStore {
        async fn create_post(&self, post: NewPost, audit: NewAudit, now: Millis) -> StoreResult<Post> {
            self.tx(async move |c| save_post(c, None, &post, audit, now).await).await
        }

        /// Replaces the editable fields (and the tags). `NotFound` for an unknown post.
        async fn update_post(
            &self,
            post_id: i64,
            post: NewPost,
            audit: NewAudit,
            now: Millis,
        ) -> StoreResult<Post> {
            self.tx(async move |c| save_post(c, Some(post_id), &post, audit, now).await).await
        }

        /// `NotFound` for an unknown post.
        async fn delete_post(&self, post_id: i64, audit: NewAudit, now: Millis) -> StoreResult<()> {
            self.tx(async move |c| {
                c.execute(DELETE_POST_TAGS, &[&post_id]).await?;
                delete(c, DELETE_POST, post_id, &audit, now).await
            })
            .await
        }

        /// Any post, published or not (for operators).
        async fn blog_post(&self, post_id: i64) -> StoreResult<Option<Post>> {
            self.rd(async move |c| one(c, POST_BY_ID, &[&post_id], post_row).await).await
        }

        /// A published post, counting one view; `None` for an unknown or unpublished post.
        async fn view_post(&self, post_id: i64) -> StoreResult<Option<Post>> {
            self.tx(async move |c| one(c, VIEW_POST, &[&post_id], post_row).await).await
        }

        async fn posts(&self, filter: PostFilter) -> StoreResult<Page<Post>> {
            if [&filter.search, &filter.category, &filter.tag].into_iter().any(|f| has_nul(f.as_deref())) {
                return Ok(Page { rows: Vec::new(), total: 0 });
            }
            let pattern = like_pattern(filter.search.as_deref());
            self.rd(async move |c| {
                let args: [&dyn Param; 4] = [&filter.published_only, &pattern, &filter.category, &filter.tag];
                page(c, POST_PAGE, &args, filter.limit, filter.offset, post_row).await
            })
            .await
        }

        /// Categories of published posts with their counts, by name.
        async fn blog_categories(&self) -> StoreResult<Vec<LabelCount>> {
            self.rd(async move |c| rows(c, BLOG_CATEGORIES, &[], label_row).await).await
        }

        /// Tags of published posts with their counts, by name.
        async fn blog_tags(&self) -> StoreResult<Vec<LabelCount>> {
            self.rd(async move |c| rows(c, BLOG_TAGS, &[], label_row).await).await
        }
    }
}

store_trait! {
    /// Figures for the admin dashboard.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_store::DashboardStore;
    /// use snspmt_store::Millis;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let store = snspmt_store::testing::example_store(&[]).await?;
    /// let stats = store.dashboard_stats(Millis(1_000), Millis(0)).await?;
    /// assert_eq!((stats.total_users, stats.total_orders, stats.today_revenue), (0, 0, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub trait DashboardStore {
        /// Totals, and orders and revenue since `today_start` and since `month_start`.
        async fn dashboard_stats(
            &self,
            today_start: Millis,
            month_start: Millis,
        ) -> StoreResult<DashboardStats> {
            self.rd(async move |c| {
                stats_row(&c.query_one(DASHBOARD_STATS, &[&today_start, &month_start]).await?)
            })
            .await
        }
    }
}
