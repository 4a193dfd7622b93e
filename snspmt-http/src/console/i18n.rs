//! The console's languages: Korean (the default, and the key of every text) and English.
//!
//! A template writes the Korean text and asks `c.t("…")`; English comes from the tables
//! below. A text without an English entry is shown in Korean. Each part of the console keeps
//! its own table ([`COMMON`], `customer::EN`, `admin::EN`), so parts can grow apart.

/// The visitor's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ko => "한국어",
            Lang::En => "English",
        }
    }

    /// `korean` in this language, as the customer's pages say it.
    pub fn t(self, korean: &str) -> &str {
        self.in_area(false, korean)
    }

    /// `korean` in this language, as the operator's pages say it.
    pub fn admin_t(self, korean: &str) -> &str {
        self.in_area(true, korean)
    }

    /// `korean` in this language, on an operator page (`admin`) or a customer page.
    pub fn in_area(self, admin: bool, korean: &str) -> &str {
        match self {
            Lang::Ko => korean,
            Lang::En => english(admin, korean).unwrap_or(korean),
        }
    }
}

/// The tables a page of the area looks in, in order: the shared texts, the area's own, then
/// the other area's (a word may be said differently on the two sides: 주문 결제 is "Order" to
/// a customer and "Order charge" in an operator's ledger).
fn tables(admin: bool) -> [&'static [(&'static str, &'static str)]; 3] {
    if admin {
        [COMMON, super::admin::EN, super::customer::EN]
    } else {
        [COMMON, super::customer::EN, super::admin::EN]
    }
}

/// The English of a Korean text.
fn english(admin: bool, korean: &str) -> Option<&'static str> {
    tables(admin).iter().flat_map(|table| table.iter()).find(|(ko, _)| *ko == korean).map(|(_, en)| *en)
}

/// Texts of the layout, the sign-in pages and the error page.
pub const COMMON: &[(&str, &str)] = &[
    ("홈", "Home"),
    ("대시보드", "Dashboard"),
    ("주문하기", "New order"),
    ("주문 내역", "Orders"),
    ("포인트 충전", "Buy points"),
    ("포인트 내역", "Points history"),
    ("추천인", "Referral"),
    ("API 키", "API keys"),
    ("관리자", "Admin"),
    ("로그인", "Sign in"),
    ("로그아웃", "Sign out"),
    ("회원가입", "Sign up"),
    ("이메일", "E-mail"),
    ("비밀번호", "Password"),
    ("이름", "Name"),
    ("보유 포인트", "Balance"),
    ("오류", "Error"),
    ("다시 시도", "Try again"),
    ("처음으로", "Back to start"),
    ("이전", "Previous"),
    ("다음", "Next"),
    ("페이지", "Page"),
    ("내역이 없습니다.", "Nothing here yet."),
    ("저장", "Save"),
    ("취소", "Cancel"),
    ("확인", "Confirm"),
    ("삭제", "Delete"),
    ("검색", "Search"),
    ("상태", "Status"),
    ("전체", "All"),
    ("금액", "Amount"),
    ("일시", "Date"),
    ("닫기", "Close"),
    ("공지사항", "Notices"),
    ("관리자 토큰", "Admin token"),
    ("관리자 토큰으로 로그인", "Sign in with the admin token"),
    ("계정이 없으신가요?", "No account yet?"),
    ("이미 계정이 있으신가요?", "Already have an account?"),
    ("구글로 로그인", "Sign in with Google"),
    (
        "보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
        "The security token does not match. Reload the page and try again.",
    ),
    ("관리자만 볼 수 있는 페이지입니다.", "This page is for operators only."),
    ("로그인했습니다.", "Signed in."),
    ("로그아웃했습니다.", "Signed out."),
    ("가입을 환영합니다!", "Welcome aboard!"),
    ("고객 화면", "Customer view"),
    ("SNS 마케팅 패널", "SNS marketing panel"),
];

/// The Korean (or English) label of a stored status, for badges.
pub fn status_label(lang: Lang, status: &str) -> &'static str {
    let (ko, en) = match status {
        "pending" => ("대기", "Pending"),
        "submitting" => ("접수 중", "Submitting"),
        "processing" => ("처리 중", "Processing"),
        "in_progress" => ("진행 중", "In progress"),
        "completed" => ("완료", "Completed"),
        "partial" => ("부분 완료", "Partial"),
        "canceled" => ("취소됨", "Canceled"),
        "failed" => ("실패", "Failed"),
        "unknown" => ("확인 필요", "Needs attention"),
        "scheduled" => ("예약됨", "Scheduled"),
        "approved" => ("승인", "Approved"),
        "rejected" => ("거절", "Rejected"),
        "kcp_registered" => ("결제 대기", "Awaiting payment"),
        "approving" => ("승인 중", "Approving"),
        "requested" => ("요청됨", "Requested"),
        "confirmed" => ("확정", "Confirmed"),
        "paid" | "done" => ("지급 완료", "Paid"),
        "waiting" => ("대기 중", "Waiting"),
        "due" => ("예정", "Due"),
        "accepted" => ("접수됨", "Accepted"),
        "expired" => ("만료", "Expired"),
        "used" => ("사용됨", "Used"),
        "refunded" => ("환불됨", "Refunded"),
        "ended" => ("종료", "Ended"),
        "active" => ("사용 중", "Active"),
        "inactive" => ("중지", "Inactive"),
        _ => ("기타", "Other"),
    };
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_is_the_key() {
        assert_eq!(Lang::Ko.t("로그인"), "로그인");
        assert_eq!(Lang::En.t("로그인"), "Sign in");
        assert_eq!(Lang::En.t("없는 문구"), "없는 문구");
        assert_eq!(status_label(Lang::Ko, "completed"), "완료");
        assert_eq!(status_label(Lang::En, "unknown"), "Needs attention");
        assert_eq!(status_label(Lang::Ko, "refunded"), "환불됨");
    }

    #[test]
    fn no_korean_text_has_two_translations_on_one_side() {
        for admin in [false, true] {
            let mut seen = std::collections::HashMap::new();
            let mut twice = Vec::new();
            for table in &tables(admin)[..2] {
                for (ko, en) in *table {
                    if seen.insert(*ko, *en).is_some_and(|prev| prev != *en) {
                        twice.push(*ko);
                    }
                }
            }
            assert!(twice.is_empty(), "translated twice, differently (admin: {admin}): {twice:?}");
        }
        assert_eq!(Lang::En.t("주문 결제"), "Order");
        assert_eq!(Lang::En.admin_t("주문 결제"), "Order charge");
    }
}
