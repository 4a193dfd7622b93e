//! Requests become an [`Endpoint`] by slice patterns on the path; each endpoint knows who
//! may call it. A known path with another method is 405, an unknown path 404.

use hyper::Method;

use crate::error::ApiError;

/// Who may call an endpoint. Checked before dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials.
    Public,
    /// A bearer session.
    User,
    /// A bearer session, or the admin (for reading another user's resource).
    UserOrAdmin,
    /// `X-Admin-Token`, or the bearer session of an admin user.
    Admin,
    /// `X-Cron-Token`, or the admin token.
    Cron,
    /// `Authorization: Bearer <METRICS_TOKEN>`, or the admin.
    Metrics,
}

/// Every route the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Register,
    Login,
    Logout,
    VerifyEmail,
    ResendVerification,
    User {
        user_id: String,
    },
    Points,
    DeductPoints,
    Health,
    Config,
    DeploymentStatus,
    AdminUsers,
    AdminUpdateUser {
        user_id: String,
    },
    AdminTransactions,
    AdminMigrateDatabase,
    AdminAuditLog,
    PublicServices,
    AdminServices,
    AdminCreateService,
    AdminService {
        id: String,
    },
    AdminUpdateService {
        id: String,
    },
    AdminDeleteService {
        id: String,
    },
    AdminImportServices,
    PlaceOrder,
    Orders,
    Order {
        id: String,
    },
    CancelOrder {
        id: String,
    },
    RefillOrder {
        id: String,
    },
    OrderRefills {
        id: String,
    },
    SetOrderStatus {
        id: String,
    },
    CheckOrderStatus,
    AdminOrders,
    AdminResolveOrder {
        id: String,
    },
    CronSyncOrderStatus,
    CronProcessScheduledOrders,
    SmmPanelProxy,
    SmmPanelTest,
    BankPurchase,
    AdminDecidePurchase {
        id: String,
    },
    AdminSettlePurchase {
        id: String,
    },
    AdminPurchases,
    KcpRegister,
    KcpPaymentForm,
    KcpReturn,
    KcpApprove,
    KcpSimulatedWindow,
    PurchaseHistory,
    PlaceScheduledOrder,
    AdminScheduledOrders,
    Metrics,
    PublicPackages,
    AdminPackages,
    AdminCreatePackage,
    AdminPackage {
        id: String,
    },
    AdminUpdatePackage {
        id: String,
    },
    AdminDeletePackage {
        id: String,
    },
    StartPackageProcessing,
    PackageProgress {
        id: String,
    },
    AdminReprocessPackageOrders,
    CronProcessSplitDeliveries,
    CronProcessPackageSteps,
    KakaoLogin,
    GoogleLogin,
    GoogleState,
    GoogleCallback,
    ActiveNotices,
    AdminNotices,
    AdminCreateNotice,
    AdminNotice {
        id: String,
    },
    AdminUpdateNotice {
        id: String,
    },
    AdminDeleteNotice {
        id: String,
    },
    BlogPosts,
    BlogPost {
        id: String,
    },
    BlogCategories,
    BlogTags,
    AdminBlogPosts,
    AdminCreatePost,
    AdminUpdatePost {
        id: String,
    },
    AdminDeletePost {
        id: String,
    },
    Sitemap,
    Rss,
    AdminUploadImage,
    Upload {
        name: String,
    },
    AdminStats,
    ReferralMyCodes,
    ReferralValidateCode,
    ReferralUseCode,
    ReferralIssueCoupon,
    ReferralCommissions,
    ReferralCommissionPoints,
    ReferralCommissionTransactions,
    ReferralStats,
    ReferralReferrals,
    WithdrawalRequest,
    UserCoupons,
    AddCouponByCode,
    AdminCoupons,
    AdminCreateCoupon,
    AdminCoupon {
        id: String,
    },
    AdminUpdateCoupon {
        id: String,
    },
    AdminDeleteCoupon {
        id: String,
    },
    AdminReferralRegister,
    AdminReferralList,
    AdminReferralCodes,
    AdminCommissionOverview,
    AdminPaymentHistory,
    AdminPayCommission,
    AdminUpdateCommissionRate,
    AdminWithdrawalRequests,
    AdminProcessWithdrawal,
    OpenApi,
    /// The reseller API (SMM panel API v2); the handler checks the API key.
    ResellerApi,
    ApiKeys,
    CreateApiKey,
    RotateApiKey {
        id: String,
    },
    DeleteApiKey {
        id: String,
    },
    AdminRevokeApiKey {
        id: String,
    },
    AdminSetApiAccess {
        user_id: String,
    },
    // ---- per-user rates and mass orders ----
    MassOrder,
    MyRates,
    AdminUserRates {
        user_id: String,
    },
    AdminSetUserDiscount {
        user_id: String,
    },
    AdminSetServicePrice {
        user_id: String,
        id: String,
    },
    AdminDeleteServicePrice {
        user_id: String,
        id: String,
    },
}

impl Endpoint {
    pub fn access(&self) -> Access {
        use Endpoint::*;
        match self {
            Register
            | Login
            | VerifyEmail
            | Health
            | Config
            | DeploymentStatus
            | PublicServices
            | ResellerApi
            | KcpReturn
            | KcpSimulatedWindow
            | KakaoLogin
            | GoogleLogin
            | GoogleState
            | GoogleCallback
            | ActiveNotices
            | BlogPosts
            | BlogPost { .. }
            | BlogCategories
            | BlogTags
            | Sitemap
            | Rss
            | Upload { .. } => Access::Public,
            Logout
            | ResendVerification
            | Points
            | DeductPoints
            | PlaceOrder
            | PlaceScheduledOrder
            | StartPackageProcessing
            | Orders
            | CancelOrder { .. }
            | CheckOrderStatus
            | BankPurchase
            | KcpRegister
            | KcpPaymentForm
            | KcpApprove
            | ReferralMyCodes
            | ReferralUseCode
            | ReferralIssueCoupon
            | ReferralCommissions
            | ReferralCommissionPoints
            | ReferralCommissionTransactions
            | ReferralStats
            | ReferralReferrals
            | WithdrawalRequest
            | UserCoupons
            | AddCouponByCode
            | ApiKeys
            | CreateApiKey
            | RotateApiKey { .. }
            | DeleteApiKey { .. } => Access::User,
            User { .. } | Order { .. } | RefillOrder { .. } | OrderRefills { .. } | PurchaseHistory => {
                Access::UserOrAdmin
            }
            AdminUsers
            | AdminUpdateUser { .. }
            | AdminTransactions
            | AdminMigrateDatabase
            | AdminAuditLog
            | AdminServices
            | AdminCreateService
            | AdminService { .. }
            | AdminUpdateService { .. }
            | AdminDeleteService { .. }
            | AdminImportServices
            | SetOrderStatus { .. }
            | AdminOrders
            | AdminResolveOrder { .. }
            | SmmPanelProxy
            | SmmPanelTest
            | AdminDecidePurchase { .. }
            | AdminSettlePurchase { .. }
            | AdminPurchases
            | AdminScheduledOrders => Access::Admin,
            CronSyncOrderStatus
            | CronProcessScheduledOrders
            | CronProcessSplitDeliveries
            | CronProcessPackageSteps => Access::Cron,
            PublicPackages => Access::Public,
            PackageProgress { .. } => Access::UserOrAdmin,
            AdminPackages
            | AdminCreatePackage
            | AdminPackage { .. }
            | AdminUpdatePackage { .. }
            | AdminDeletePackage { .. }
            | AdminReprocessPackageOrders => Access::Admin,
            Metrics => Access::Metrics,
            AdminNotices
            | AdminCreateNotice
            | AdminNotice { .. }
            | AdminUpdateNotice { .. }
            | AdminDeleteNotice { .. }
            | AdminBlogPosts
            | AdminCreatePost
            | AdminUpdatePost { .. }
            | AdminDeletePost { .. }
            | AdminUploadImage
            | AdminStats => Access::Admin,
            ReferralValidateCode | OpenApi => Access::Public,
            AdminCoupons
            | AdminCreateCoupon
            | AdminCoupon { .. }
            | AdminUpdateCoupon { .. }
            | AdminDeleteCoupon { .. }
            | AdminReferralRegister
            | AdminReferralList
            | AdminReferralCodes
            | AdminCommissionOverview
            | AdminPaymentHistory
            | AdminPayCommission
            | AdminUpdateCommissionRate
            | AdminWithdrawalRequests
            | AdminProcessWithdrawal
            | AdminRevokeApiKey { .. }
            | AdminSetApiAccess { .. } => Access::Admin,
            MassOrder | MyRates => Access::User,
            AdminUserRates { .. }
            | AdminSetUserDiscount { .. }
            | AdminSetServicePrice { .. }
            | AdminDeleteServicePrice { .. } => Access::Admin,
        }
    }

    /// A name for logs and metrics, without ids.
    pub fn name(&self) -> &'static str {
        use Endpoint::*;
        match self {
            Register => "register",
            Login => "login",
            Logout => "logout",
            VerifyEmail => "auth.verify_email",
            ResendVerification => "auth.resend_verification",
            User { .. } => "user",
            Points => "points",
            DeductPoints => "points.deduct",
            Health => "health",
            Config => "config",
            DeploymentStatus => "deployment_status",
            AdminUsers => "admin.users",
            AdminUpdateUser { .. } => "admin.users.update",
            AdminTransactions => "admin.transactions",
            AdminMigrateDatabase => "admin.migrate_database",
            AdminAuditLog => "admin.audit_log",
            PublicServices => "services.public",
            AdminServices => "admin.services",
            AdminCreateService => "admin.services.create",
            AdminService { .. } => "admin.services.get",
            AdminUpdateService { .. } => "admin.services.update",
            AdminDeleteService { .. } => "admin.services.delete",
            AdminImportServices => "admin.services.import",
            PlaceOrder => "orders.place",
            Orders => "orders.list",
            Order { .. } => "orders.get",
            CancelOrder { .. } => "orders.cancel",
            RefillOrder { .. } => "orders.refill",
            OrderRefills { .. } => "orders.refills",
            SetOrderStatus { .. } => "orders.set_status",
            CheckOrderStatus => "orders.check_status",
            AdminOrders => "admin.orders",
            AdminResolveOrder { .. } => "admin.orders.resolve",
            CronSyncOrderStatus => "cron.sync_order_status",
            CronProcessScheduledOrders => "cron.process_scheduled_orders",
            SmmPanelProxy => "smm_panel.proxy",
            SmmPanelTest => "smm_panel.test",
            BankPurchase => "points.purchase",
            AdminDecidePurchase { .. } => "admin.purchases.decide",
            AdminSettlePurchase { .. } => "admin.purchases.settle",
            AdminPurchases => "admin.purchases",
            KcpRegister => "kcp.register",
            KcpPaymentForm => "kcp.payment_form",
            KcpReturn => "kcp.return",
            KcpApprove => "kcp.approve",
            KcpSimulatedWindow => "kcp.simulated_window",
            PurchaseHistory => "points.purchase_history",
            PlaceScheduledOrder => "orders.place_scheduled",
            AdminScheduledOrders => "admin.scheduled_orders",
            Metrics => "metrics",
            PublicPackages => "packages.public",
            AdminPackages => "admin.packages",
            AdminCreatePackage => "admin.packages.create",
            AdminPackage { .. } => "admin.packages.get",
            AdminUpdatePackage { .. } => "admin.packages.update",
            AdminDeletePackage { .. } => "admin.packages.delete",
            StartPackageProcessing => "orders.start_package",
            PackageProgress { .. } => "orders.package_progress",
            AdminReprocessPackageOrders => "admin.reprocess_package_orders",
            CronProcessSplitDeliveries => "cron.process_split_deliveries",
            CronProcessPackageSteps => "cron.process_package_steps",
            KakaoLogin => "auth.kakao_login",
            GoogleLogin => "auth.google_login",
            GoogleState => "auth.google_state",
            GoogleCallback => "auth.google_callback",
            ActiveNotices => "notices.active",
            AdminNotices => "admin.notices",
            AdminCreateNotice => "admin.notices.create",
            AdminNotice { .. } => "admin.notices.get",
            AdminUpdateNotice { .. } => "admin.notices.update",
            AdminDeleteNotice { .. } => "admin.notices.delete",
            BlogPosts => "blog.posts",
            BlogPost { .. } => "blog.posts.get",
            BlogCategories => "blog.categories",
            BlogTags => "blog.tags",
            AdminBlogPosts => "admin.blog.posts",
            AdminCreatePost => "admin.blog.posts.create",
            AdminUpdatePost { .. } => "admin.blog.posts.update",
            AdminDeletePost { .. } => "admin.blog.posts.delete",
            Sitemap => "sitemap",
            Rss => "rss",
            AdminUploadImage => "admin.upload_image",
            Upload { .. } => "uploads.get",
            AdminStats => "admin.stats",
            ReferralMyCodes => "referral.my_codes",
            ReferralValidateCode => "referral.validate_code",
            ReferralUseCode => "referral.use_code",
            ReferralIssueCoupon => "referral.issue_coupon",
            ReferralCommissions => "referral.commissions",
            ReferralCommissionPoints => "referral.commission_points",
            ReferralCommissionTransactions => "referral.commission_transactions",
            ReferralStats => "referral.stats",
            ReferralReferrals => "referral.referrals",
            WithdrawalRequest => "referral.withdrawal_request",
            UserCoupons => "coupons.mine",
            AddCouponByCode => "coupons.add_by_code",
            AdminCoupons => "admin.coupons",
            AdminCreateCoupon => "admin.coupons.create",
            AdminCoupon { .. } => "admin.coupons.get",
            AdminUpdateCoupon { .. } => "admin.coupons.update",
            AdminDeleteCoupon { .. } => "admin.coupons.delete",
            AdminReferralRegister => "admin.referral.register",
            AdminReferralList => "admin.referral.list",
            AdminReferralCodes => "admin.referral.codes",
            AdminCommissionOverview => "admin.referral.commission_overview",
            AdminPaymentHistory => "admin.referral.payment_history",
            AdminPayCommission => "admin.referral.pay_commission",
            AdminUpdateCommissionRate => "admin.referral.update_commission_rate",
            AdminWithdrawalRequests => "admin.withdrawal_requests",
            AdminProcessWithdrawal => "admin.process_withdrawal",
            OpenApi => "openapi",
            ResellerApi => "v2",
            ApiKeys => "api_keys",
            CreateApiKey => "api_keys.create",
            RotateApiKey { .. } => "api_keys.rotate",
            DeleteApiKey { .. } => "api_keys.delete",
            AdminRevokeApiKey { .. } => "admin.api_keys.revoke",
            AdminSetApiAccess { .. } => "admin.users.api_access",
            MassOrder => "orders.mass",
            MyRates => "rates.mine",
            AdminUserRates { .. } => "admin.users.rates",
            AdminSetUserDiscount { .. } => "admin.users.set_discount",
            AdminSetServicePrice { .. } => "admin.users.set_service_price",
            AdminDeleteServicePrice { .. } => "admin.users.delete_service_price",
        }
    }

    /// The largest request body this endpoint reads: [`MAX_BODY`], or [`MAX_UPLOAD_BODY`] for
    /// image uploads.
    pub fn body_limit(&self) -> usize {
        match self {
            Endpoint::AdminUploadImage => MAX_UPLOAD_BODY,
            _ => MAX_BODY,
        }
    }
}

/// The largest JSON body accepted: 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;
/// The largest uploaded image: 10 MiB.
pub const MAX_IMAGE: usize = 10 * 1024 * 1024;
/// The largest upload request: the image and the form's framing.
pub const MAX_UPLOAD_BODY: usize = MAX_IMAGE + 64 * 1024;

/// Picks the endpoint for `method` among those a path serves.
fn on<const N: usize>(method: &Method, choices: [(Method, Endpoint); N]) -> Result<Endpoint, ApiError> {
    let allow = choices.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
    choices
        .into_iter()
        .find(|(m, _)| m == method || (method == Method::HEAD && m == Method::GET))
        .map(|(_, e)| e)
        .ok_or_else(|| ApiError::method_not_allowed(allow))
}

/// Resolves a request line. `path` is without the query string.
pub fn route(method: &Method, path: &str) -> Result<Endpoint, ApiError> {
    use Endpoint as E;
    use Method as M;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segs: Vec<&str> = trimmed.split('/').collect();
    match segs.as_slice() {
        ["api", "register"] => on(method, [(M::POST, E::Register)]),
        ["api", "auth", "login"] => on(method, [(M::POST, E::Login)]),
        ["api", "auth", "logout"] => on(method, [(M::POST, E::Logout)]),
        ["api", "auth", "verify-email"] => on(method, [(M::GET, E::VerifyEmail), (M::POST, E::VerifyEmail)]),
        ["api", "auth", "resend-verification"] => on(method, [(M::POST, E::ResendVerification)]),
        ["api", "users", id] if !id.is_empty() => on(method, [(M::GET, E::User { user_id: decode(id)? })]),
        ["api", "points"] => on(method, [(M::GET, E::Points)]),
        ["api", "points", "deduct"] => on(method, [(M::POST, E::DeductPoints)]),
        ["metrics"] => on(method, [(M::GET, E::Metrics)]),
        ["api", "openapi.json"] => on(method, [(M::GET, E::OpenApi)]),
        ["api", "health"] | ["health"] => on(method, [(M::GET, E::Health)]),
        ["api", "v2"] => on(method, [(M::GET, E::ResellerApi), (M::POST, E::ResellerApi)]),
        ["api", "config"] => on(method, [(M::GET, E::Config)]),
        ["api", "deployment-status"] => on(method, [(M::GET, E::DeploymentStatus)]),
        ["api", "admin", "users"] => on(method, [(M::GET, E::AdminUsers)]),
        ["api", "admin", "users", id] if !id.is_empty() => {
            on(method, [(M::PUT, E::AdminUpdateUser { user_id: decode(id)? })])
        }
        ["api", "admin", "users", id, "api-access"] if !id.is_empty() => {
            on(method, [(M::PUT, E::AdminSetApiAccess { user_id: decode(id)? })])
        }
        ["api", "user", "api-keys"] => on(method, [(M::GET, E::ApiKeys), (M::POST, E::CreateApiKey)]),
        ["api", "user", "api-keys", id] if !id.is_empty() => {
            on(method, [(M::DELETE, E::DeleteApiKey { id: decode(id)? })])
        }
        ["api", "user", "api-keys", id, "rotate"] if !id.is_empty() => {
            on(method, [(M::POST, E::RotateApiKey { id: decode(id)? })])
        }
        ["api", "admin", "api-keys", id] if !id.is_empty() => {
            on(method, [(M::DELETE, E::AdminRevokeApiKey { id: decode(id)? })])
        }
        ["api", "admin", "transactions"] => on(method, [(M::GET, E::AdminTransactions)]),
        ["api", "admin", "migrate-database"] => on(method, [(M::POST, E::AdminMigrateDatabase)]),
        ["api", "admin", "audit-log"] => on(method, [(M::GET, E::AdminAuditLog)]),
        ["api", "smm-panel", "services"] => on(method, [(M::GET, E::PublicServices)]),
        ["api", "smm-panel"] => on(method, [(M::POST, E::SmmPanelProxy)]),
        ["api", "smm-panel", "test"] => on(method, [(M::GET, E::SmmPanelTest)]),
        ["api", "admin", "services"] => {
            on(method, [(M::GET, E::AdminServices), (M::POST, E::AdminCreateService)])
        }
        ["api", "admin", "services", "import"] => on(method, [(M::POST, E::AdminImportServices)]),
        ["api", "admin", "services", id] if !id.is_empty() => {
            let id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::AdminService { id: id.clone() }),
                    (M::PUT, E::AdminUpdateService { id: id.clone() }),
                    (M::DELETE, E::AdminDeleteService { id }),
                ],
            )
        }
        ["api", "orders"] => on(method, [(M::GET, E::Orders), (M::POST, E::PlaceOrder)]),
        ["api", "packages"] => on(method, [(M::GET, E::PublicPackages)]),
        ["api", "admin", "packages"] => {
            on(method, [(M::GET, E::AdminPackages), (M::POST, E::AdminCreatePackage)])
        }
        ["api", "admin", "packages", id] if !id.is_empty() => {
            let id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::AdminPackage { id: id.clone() }),
                    (M::PUT, E::AdminUpdatePackage { id: id.clone() }),
                    (M::DELETE, E::AdminDeletePackage { id }),
                ],
            )
        }
        ["api", "orders", "start-package-processing"] => on(method, [(M::POST, E::StartPackageProcessing)]),
        ["api", "orders", id, "package-progress"] => {
            on(method, [(M::GET, E::PackageProgress { id: decode(id)? })])
        }
        ["api", "admin", "reprocess-package-orders"] => {
            on(method, [(M::POST, E::AdminReprocessPackageOrders)])
        }
        ["api", "cron", "process-split-deliveries"] => on(method, [(M::POST, E::CronProcessSplitDeliveries)]),
        ["api", "cron", "process-package-steps"] => on(method, [(M::POST, E::CronProcessPackageSteps)]),
        ["api", "orders", "check-status"] => on(method, [(M::POST, E::CheckOrderStatus)]),
        ["api", "orders", "mass"] => on(method, [(M::POST, E::MassOrder)]),
        ["api", "user", "rates"] => on(method, [(M::GET, E::MyRates)]),
        ["api", "admin", "users", id, "rates"] if !id.is_empty() => {
            let user_id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::AdminUserRates { user_id: user_id.clone() }),
                    (M::PUT, E::AdminSetUserDiscount { user_id }),
                ],
            )
        }
        ["api", "admin", "users", id, "service-prices", service] if !id.is_empty() && !service.is_empty() => {
            let (user_id, id) = (decode(id)?, decode(service)?);
            on(
                method,
                [
                    (M::PUT, E::AdminSetServicePrice { user_id: user_id.clone(), id: id.clone() }),
                    (M::DELETE, E::AdminDeleteServicePrice { user_id, id }),
                ],
            )
        }
        ["api", "orders", id] if !id.is_empty() => on(method, [(M::GET, E::Order { id: decode(id)? })]),
        ["api", "orders", id, "cancel"] => on(method, [(M::POST, E::CancelOrder { id: decode(id)? })]),
        ["api", "orders", id, "refill"] => on(method, [(M::POST, E::RefillOrder { id: decode(id)? })]),
        ["api", "orders", id, "refills"] => on(method, [(M::GET, E::OrderRefills { id: decode(id)? })]),
        ["api", "orders", id, "status"] => on(method, [(M::PUT, E::SetOrderStatus { id: decode(id)? })]),
        ["api", "scheduled-orders"] => on(method, [(M::POST, E::PlaceScheduledOrder)]),
        ["api", "admin", "scheduled-orders"] => on(method, [(M::GET, E::AdminScheduledOrders)]),
        ["api", "admin", "orders"] => on(method, [(M::GET, E::AdminOrders)]),
        ["api", "admin", "orders", id, "resolve"] => {
            on(method, [(M::POST, E::AdminResolveOrder { id: decode(id)? })])
        }
        ["api", "points", "purchase"] => on(method, [(M::POST, E::BankPurchase)]),
        ["api", "points", "purchase-history"] => on(method, [(M::GET, E::PurchaseHistory)]),
        ["api", "points", "purchase-kcp", "register"] => on(method, [(M::POST, E::KcpRegister)]),
        ["api", "points", "purchase-kcp", "payment-form"] => on(method, [(M::POST, E::KcpPaymentForm)]),
        ["api", "points", "purchase-kcp", "return"] => on(method, [(M::POST, E::KcpReturn)]),
        ["api", "points", "purchase-kcp", "approve"] => on(method, [(M::POST, E::KcpApprove)]),
        ["api", "points", "purchase-kcp", "simulated-window"] => {
            on(method, [(M::GET, E::KcpSimulatedWindow)])
        }
        ["api", "admin", "purchases"] => on(method, [(M::GET, E::AdminPurchases)]),
        ["api", "admin", "purchases", id] if !id.is_empty() => {
            on(method, [(M::PUT, E::AdminDecidePurchase { id: decode(id)? })])
        }
        ["api", "admin", "purchases", id, "settle"] if !id.is_empty() => {
            on(method, [(M::POST, E::AdminSettlePurchase { id: decode(id)? })])
        }
        ["api", "cron", "sync-order-status"] => on(method, [(M::POST, E::CronSyncOrderStatus)]),
        ["api", "cron", "process-scheduled-orders"] => on(method, [(M::POST, E::CronProcessScheduledOrders)]),
        ["api", "auth", "kakao-login"] => on(method, [(M::POST, E::KakaoLogin)]),
        ["api", "auth", "google-login"] => on(method, [(M::POST, E::GoogleLogin)]),
        ["api", "auth", "google-state"] => on(method, [(M::GET, E::GoogleState)]),
        ["api", "auth", "google-callback"] => on(method, [(M::GET, E::GoogleCallback)]),
        ["api", "notices", "active"] => on(method, [(M::GET, E::ActiveNotices)]),
        ["api", "admin", "notices"] => {
            on(method, [(M::GET, E::AdminNotices), (M::POST, E::AdminCreateNotice)])
        }
        ["api", "admin", "notices", id] if !id.is_empty() => {
            let id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::AdminNotice { id: id.clone() }),
                    (M::PUT, E::AdminUpdateNotice { id: id.clone() }),
                    (M::DELETE, E::AdminDeleteNotice { id }),
                ],
            )
        }
        ["api", "blog", "posts"] => on(method, [(M::GET, E::BlogPosts), (M::POST, E::AdminCreatePost)]),
        ["api", "blog", "posts", id] if !id.is_empty() => {
            let id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::BlogPost { id: id.clone() }),
                    (M::PUT, E::AdminUpdatePost { id: id.clone() }),
                    (M::DELETE, E::AdminDeletePost { id }),
                ],
            )
        }
        ["api", "blog", "categories"] => on(method, [(M::GET, E::BlogCategories)]),
        ["api", "blog", "tags"] => on(method, [(M::GET, E::BlogTags)]),
        ["api", "admin", "blog", "posts"] => on(method, [(M::GET, E::AdminBlogPosts)]),
        ["sitemap.xml"] => on(method, [(M::GET, E::Sitemap)]),
        ["rss.xml"] => on(method, [(M::GET, E::Rss)]),
        ["api", "admin", "upload-image"] => on(method, [(M::POST, E::AdminUploadImage)]),
        ["uploads", name] if !name.is_empty() => on(method, [(M::GET, E::Upload { name: decode(name)? })]),
        ["api", "admin", "stats"] => on(method, [(M::GET, E::AdminStats)]),
        ["api", "referral", "my-codes"] => on(method, [(M::GET, E::ReferralMyCodes)]),
        ["api", "referral", "validate-code"] => on(method, [(M::GET, E::ReferralValidateCode)]),
        ["api", "referral", "use-code"] => on(method, [(M::POST, E::ReferralUseCode)]),
        ["api", "referral", "issue-coupon"] => on(method, [(M::POST, E::ReferralIssueCoupon)]),
        ["api", "referral", "commissions"] => on(method, [(M::GET, E::ReferralCommissions)]),
        ["api", "referral", "commission-points"] => on(method, [(M::GET, E::ReferralCommissionPoints)]),
        ["api", "referral", "commission-transactions"] => {
            on(method, [(M::GET, E::ReferralCommissionTransactions)])
        }
        ["api", "referral", "stats"] => on(method, [(M::GET, E::ReferralStats)]),
        ["api", "referral", "referrals"] => on(method, [(M::GET, E::ReferralReferrals)]),
        ["api", "referral", "withdrawal-request"] => on(method, [(M::POST, E::WithdrawalRequest)]),
        ["api", "user", "coupons"] => on(method, [(M::GET, E::UserCoupons)]),
        ["api", "user", "coupons", "add-by-code"] => on(method, [(M::POST, E::AddCouponByCode)]),
        ["api", "admin", "coupons"] => {
            on(method, [(M::GET, E::AdminCoupons), (M::POST, E::AdminCreateCoupon)])
        }
        ["api", "admin", "coupons", id] if !id.is_empty() => {
            let id = decode(id)?;
            on(
                method,
                [
                    (M::GET, E::AdminCoupon { id: id.clone() }),
                    (M::PUT, E::AdminUpdateCoupon { id: id.clone() }),
                    (M::DELETE, E::AdminDeleteCoupon { id }),
                ],
            )
        }
        ["api", "admin", "referral", "register"] => on(method, [(M::POST, E::AdminReferralRegister)]),
        ["api", "admin", "referral", "list"] => on(method, [(M::GET, E::AdminReferralList)]),
        ["api", "admin", "referral", "codes"] => on(method, [(M::GET, E::AdminReferralCodes)]),
        ["api", "admin", "referral", "commission-overview"] => {
            on(method, [(M::GET, E::AdminCommissionOverview)])
        }
        ["api", "admin", "referral", "payment-history"] => on(method, [(M::GET, E::AdminPaymentHistory)]),
        ["api", "admin", "referral", "pay-commission"] => on(method, [(M::POST, E::AdminPayCommission)]),
        ["api", "admin", "referral", "update-commission-rate"] => {
            on(method, [(M::PUT, E::AdminUpdateCommissionRate)])
        }
        ["api", "admin", "withdrawal-requests"] => on(method, [(M::GET, E::AdminWithdrawalRequests)]),
        ["api", "admin", "process-withdrawal"] => on(method, [(M::POST, E::AdminProcessWithdrawal)]),
        _ => Err(ApiError::no_such_route()),
    }
}

/// Percent-decodes a path segment; it must be UTF-8.
fn decode(seg: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_path", "bad percent-encoding in path");
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("invalid_path", "path is not UTF-8"))
}

/// Every route as `(method, path pattern)`, for documentation and the route-listing test.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/verify-email"),
    ("POST", "/api/auth/verify-email"),
    ("POST", "/api/auth/resend-verification"),
    ("GET", "/api/users/{user_id}"),
    ("GET", "/api/points"),
    ("POST", "/api/points/deduct"),
    ("GET", "/api/health"),
    ("GET", "/api/v2"),
    ("POST", "/api/v2"),
    ("GET", "/api/user/api-keys"),
    ("POST", "/api/user/api-keys"),
    ("POST", "/api/user/api-keys/{id}/rotate"),
    ("DELETE", "/api/user/api-keys/{id}"),
    ("DELETE", "/api/admin/api-keys/{id}"),
    ("PUT", "/api/admin/users/{user_id}/api-access"),
    ("GET", "/health"),
    ("GET", "/api/config"),
    ("GET", "/api/deployment-status"),
    ("GET", "/api/admin/users"),
    ("PUT", "/api/admin/users/{user_id}"),
    ("GET", "/api/admin/transactions"),
    ("POST", "/api/admin/migrate-database"),
    ("GET", "/api/admin/audit-log"),
    ("GET", "/api/smm-panel/services"),
    ("POST", "/api/smm-panel"),
    ("GET", "/api/smm-panel/test"),
    ("GET", "/api/admin/services"),
    ("POST", "/api/admin/services"),
    ("POST", "/api/admin/services/import"),
    ("GET", "/api/admin/services/{id}"),
    ("PUT", "/api/admin/services/{id}"),
    ("DELETE", "/api/admin/services/{id}"),
    ("GET", "/api/orders"),
    ("POST", "/api/orders"),
    ("POST", "/api/orders/check-status"),
    ("GET", "/api/orders/{id}"),
    ("POST", "/api/orders/{id}/cancel"),
    ("POST", "/api/orders/{id}/refill"),
    ("GET", "/api/orders/{id}/refills"),
    ("PUT", "/api/orders/{id}/status"),
    ("GET", "/api/admin/orders"),
    ("POST", "/api/admin/orders/{id}/resolve"),
    ("POST", "/api/cron/sync-order-status"),
    ("POST", "/api/cron/process-scheduled-orders"),
    ("POST", "/api/points/purchase"),
    ("GET", "/api/points/purchase-history"),
    ("POST", "/api/points/purchase-kcp/register"),
    ("POST", "/api/points/purchase-kcp/payment-form"),
    ("POST", "/api/points/purchase-kcp/return"),
    ("POST", "/api/points/purchase-kcp/approve"),
    ("GET", "/api/points/purchase-kcp/simulated-window"),
    ("GET", "/api/admin/purchases"),
    ("PUT", "/api/admin/purchases/{id}"),
    ("POST", "/api/admin/purchases/{id}/settle"),
    ("POST", "/api/scheduled-orders"),
    ("GET", "/api/admin/scheduled-orders"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/packages"),
    ("GET", "/api/admin/packages"),
    ("POST", "/api/admin/packages"),
    ("GET", "/api/admin/packages/{id}"),
    ("PUT", "/api/admin/packages/{id}"),
    ("DELETE", "/api/admin/packages/{id}"),
    ("POST", "/api/orders/start-package-processing"),
    ("GET", "/api/orders/{id}/package-progress"),
    ("POST", "/api/admin/reprocess-package-orders"),
    ("POST", "/api/cron/process-split-deliveries"),
    ("POST", "/api/cron/process-package-steps"),
    ("POST", "/api/auth/kakao-login"),
    ("POST", "/api/auth/google-login"),
    ("GET", "/api/auth/google-state"),
    ("GET", "/api/auth/google-callback"),
    ("GET", "/api/notices/active"),
    ("GET", "/api/admin/notices"),
    ("POST", "/api/admin/notices"),
    ("GET", "/api/admin/notices/{id}"),
    ("PUT", "/api/admin/notices/{id}"),
    ("DELETE", "/api/admin/notices/{id}"),
    ("GET", "/api/blog/posts"),
    ("POST", "/api/blog/posts"),
    ("GET", "/api/blog/posts/{id}"),
    ("PUT", "/api/blog/posts/{id}"),
    ("DELETE", "/api/blog/posts/{id}"),
    ("GET", "/api/blog/categories"),
    ("GET", "/api/blog/tags"),
    ("GET", "/api/admin/blog/posts"),
    ("GET", "/sitemap.xml"),
    ("GET", "/rss.xml"),
    ("POST", "/api/admin/upload-image"),
    ("GET", "/uploads/{name}"),
    ("GET", "/api/admin/stats"),
    ("GET", "/api/referral/my-codes"),
    ("GET", "/api/referral/validate-code"),
    ("POST", "/api/referral/use-code"),
    ("POST", "/api/referral/issue-coupon"),
    ("GET", "/api/referral/commissions"),
    ("GET", "/api/referral/commission-points"),
    ("GET", "/api/referral/commission-transactions"),
    ("GET", "/api/referral/stats"),
    ("GET", "/api/referral/referrals"),
    ("POST", "/api/referral/withdrawal-request"),
    ("GET", "/api/user/coupons"),
    ("POST", "/api/user/coupons/add-by-code"),
    ("GET", "/api/admin/coupons"),
    ("POST", "/api/admin/coupons"),
    ("GET", "/api/admin/coupons/{id}"),
    ("PUT", "/api/admin/coupons/{id}"),
    ("DELETE", "/api/admin/coupons/{id}"),
    ("POST", "/api/admin/referral/register"),
    ("GET", "/api/admin/referral/list"),
    ("GET", "/api/admin/referral/codes"),
    ("GET", "/api/admin/referral/commission-overview"),
    ("GET", "/api/admin/referral/payment-history"),
    ("POST", "/api/admin/referral/pay-commission"),
    ("PUT", "/api/admin/referral/update-commission-rate"),
    ("GET", "/api/admin/withdrawal-requests"),
    ("POST", "/api/admin/process-withdrawal"),
    ("POST", "/api/orders/mass"),
    ("GET", "/api/user/rates"),
    ("GET", "/api/admin/users/{user_id}/rates"),
    ("PUT", "/api/admin/users/{user_id}/rates"),
    ("PUT", "/api/admin/users/{user_id}/service-prices/{id}"),
    ("DELETE", "/api/admin/users/{user_id}/service-prices/{id}"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_resolves() {
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{user_id}", "u%401").replace("{id}", "7").replace("{name}", "ab.png");
            let m: Method = method.parse().expect("method");
            let e = route(&m, &path).unwrap_or_else(|err| panic!("{method} {path}: {err}"));
            if let Endpoint::User { user_id } | Endpoint::AdminUpdateUser { user_id } = &e {
                assert_eq!(user_id, "u@1");
            }
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route(&Method::GET, "/api/nope").map_err(|e| e.code), Err("no_such_route"));
        assert_eq!(route(&Method::GET, "/").map_err(|e| e.code), Err("no_such_route"));
        assert_eq!(route(&Method::GET, "/api/users/").map_err(|e| e.code), Err("no_such_route"));
        let e = route(&Method::DELETE, "/api/points").expect_err("405");
        assert_eq!((e.code, e.allow.as_deref()), ("method_not_allowed", Some("GET")));
        assert_eq!(route(&Method::GET, "/api/points/deduct").map_err(|e| e.code), Err("method_not_allowed"));
        assert_eq!(route(&Method::HEAD, "/health").ok(), Some(Endpoint::Health));
        assert_eq!(route(&Method::GET, "/api/users/%ff").map_err(|e| e.code), Err("invalid_path"));
        assert_eq!(route(&Method::GET, "/api/users/%4").map_err(|e| e.code), Err("invalid_path"));
    }

    #[test]
    fn access_levels() {
        assert_eq!(Endpoint::Register.access(), Access::Public);
        assert_eq!(Endpoint::DeductPoints.access(), Access::User);
        assert_eq!(Endpoint::AdminTransactions.access(), Access::Admin);
        assert_eq!(Endpoint::User { user_id: "x".into() }.access(), Access::UserOrAdmin);
        assert_eq!(route(&Method::GET, "/api/blog/posts").map(|e| e.access()).ok(), Some(Access::Public));
        assert_eq!(route(&Method::POST, "/api/blog/posts").map(|e| e.access()).ok(), Some(Access::Admin));
        assert_eq!(route(&Method::PUT, "/api/blog/posts/1").map(|e| e.access()).ok(), Some(Access::Admin));
        assert_eq!(route(&Method::GET, "/uploads/a.png").map(|e| e.access()).ok(), Some(Access::Public));
    }

    #[test]
    fn only_uploads_read_big_bodies() {
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{user_id}", "u").replace("{id}", "7").replace("{name}", "a.png");
            let e = route(&method.parse().expect("method"), &path).expect("route");
            let expected = if e == Endpoint::AdminUploadImage { MAX_UPLOAD_BODY } else { MAX_BODY };
            assert_eq!(e.body_limit(), expected, "{method} {path}");
        }
        assert_eq!(Endpoint::ReferralValidateCode.access(), Access::Public);
        assert_eq!(Endpoint::WithdrawalRequest.access(), Access::User);
        assert_eq!(Endpoint::AdminProcessWithdrawal.access(), Access::Admin);
        assert_eq!(
            route(&Method::GET, "/api/admin/coupons/3").ok(),
            Some(Endpoint::AdminCoupon { id: "3".into() })
        );
        assert_eq!(
            route(&Method::GET, "/api/referral/withdrawal-request").map_err(|e| e.code),
            Err("method_not_allowed")
        );
    }
}
#[cfg(test)]
mod dump {
    #[test]
    fn dump_routes() {
        use super::*;
        let mut out = String::new();
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{user_id}", "u").replace("{id}", "7").replace("{name}", "a.png");
            let e = route(&method.parse().expect("m"), &path).expect("route");
            let v = format!("{e:?}");
            let v = v.split(|c: char| c == ' ' || c == '{').next().unwrap().to_string();
            out.push_str(&format!("{method}\t{pattern}\t{v}\t{:?}\t{}\n", e.access(), e.name()));
        }
        std::fs::write("/tmp/routes.tsv", out).unwrap();
    }
}
