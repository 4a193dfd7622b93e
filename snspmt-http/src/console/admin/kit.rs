//! The operator pages' building blocks: a page is a list of sections, each with facts, a table
//! whose rows carry their own action forms, and forms. One template (`admin/page.html`) draws
//! them all, so every operator page looks and behaves the same: forms post back to the page
//! they are on with an `op` naming the action, and a refused action shows the page again with
//! the API's message next to the field it names.

use serde_json::{Map, Value};

use crate::console::{form_key, FormError, Lang, Pager};
use crate::error::ApiError;

/// An operator page.
pub struct Page {
    pub title: String,
    /// A link above the title (back to the list).
    pub back: Option<Link>,
    pub sections: Vec<Section>,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Page {
        Page { title: title.into(), back: None, sections: Vec::new() }
    }

    pub fn back(mut self, href: impl Into<String>, text: impl Into<String>) -> Page {
        self.back = Some(Link { href: href.into(), text: text.into() });
        self
    }

    pub fn section(mut self, s: Section) -> Page {
        self.sections.push(s);
        self
    }

    /// Every form of the page, the rows' included.
    fn forms_mut(&mut self) -> impl Iterator<Item = &mut Form> {
        self.sections.iter_mut().flat_map(|s| {
            s.filters
                .iter_mut()
                .chain(s.forms.iter_mut())
                .chain(s.table.iter_mut().flat_map(|t| t.rows.iter_mut().flat_map(|r| r.actions.iter_mut())))
        })
    }

    /// Shows `e` on the form `form_id` (next to its field when it names one of the form's),
    /// with the values that were posted. A form the page no longer has gets the message on top.
    pub fn fail(&mut self, form_id: &str, e: &ApiError, posted: &[(String, String)]) {
        let err = FormError::from(e);
        let mut shown = false;
        for form in self.forms_mut() {
            if form.id != form_id {
                continue;
            }
            shown = true;
            for field in form.fields.iter_mut() {
                if field.kind == "password" || field.kind == "hidden" {
                    continue;
                }
                let sent = posted.iter().find(|(k, _)| *k == field.name).map(|(_, v)| v.clone());
                if field.kind == "checkbox" {
                    field.checked = sent.is_some();
                } else if let Some(sent) = sent {
                    field.value = sent;
                }
            }
            match form.fields.iter_mut().find(|f| err.on(&f.name).is_some() && f.kind != "hidden") {
                Some(field) => field.error = Some(err.message.clone()),
                None => form.error = Some(err.message.clone()),
            }
        }
        if !shown {
            if let Some(first) = self.sections.first_mut() {
                first.error = Some(err.message);
            }
        }
    }
}

#[derive(Clone)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// A part of a page under its own heading.
#[derive(Default)]
pub struct Section {
    pub title: String,
    /// The section's element id (for tests and anchors).
    pub id: String,
    pub note: Option<String>,
    /// A message shown on top (an action of a form no longer on the page was refused).
    pub error: Option<String>,
    /// A `GET` form that filters the table.
    pub filters: Option<Form>,
    /// Label and value pairs.
    pub facts: Vec<(String, Cell)>,
    pub table: Option<Table>,
    pub forms: Vec<Form>,
    pub pager: Option<Pager>,
}

impl Section {
    pub fn new(id: &str, title: impl Into<String>) -> Section {
        Section { title: title.into(), id: id.to_owned(), ..Section::default() }
    }

    pub fn note(mut self, note: impl Into<String>) -> Section {
        self.note = Some(note.into());
        self
    }

    pub fn filters(mut self, f: Form) -> Section {
        self.filters = Some(f);
        self
    }

    pub fn fact(mut self, label: impl Into<String>, value: Cell) -> Section {
        self.facts.push((label.into(), value));
        self
    }

    pub fn table(mut self, t: Table) -> Section {
        self.table = Some(t);
        self
    }

    pub fn form(mut self, f: Form) -> Section {
        self.forms.push(f);
        self
    }

    pub fn pager(mut self, p: Pager) -> Section {
        self.pager = Some(p);
        self
    }
}

pub struct Table {
    pub head: Vec<Head>,
    pub rows: Vec<Row>,
    /// Shown instead of the table when it has no rows.
    pub empty: String,
}

impl Table {
    /// A table with these column titles (Korean, shown in `lang`); a title starting with `#`
    /// is a number column (right-aligned), the `#` dropped.
    pub fn new(lang: Lang, head: &[&str], empty: impl Into<String>) -> Table {
        let head = head
            .iter()
            .map(|h| match h.strip_prefix('#') {
                Some(t) => Head { text: lang.admin_t(t).to_owned(), num: true },
                None => Head { text: lang.admin_t(h).to_owned(), num: false },
            })
            .collect();
        Table { head, rows: Vec::new(), empty: empty.into() }
    }

    pub fn row(&mut self, r: Row) {
        self.rows.push(r);
    }
}

pub struct Head {
    pub text: String,
    pub num: bool,
}

pub struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
    pub actions: Vec<Form>,
}

impl Row {
    pub fn new(id: impl Into<String>, cells: Vec<Cell>) -> Row {
        Row { id: id.into(), cells, actions: Vec::new() }
    }

    pub fn action(mut self, f: Form) -> Row {
        self.actions.push(f);
        self
    }
}

/// A table cell or a fact's value.
pub enum Cell {
    Text(String),
    Muted(String),
    /// A number, right-aligned (already formatted).
    Num(String),
    Link(Link),
    /// A status badge: the stored status (its CSS class) and its label.
    Badge(String, String),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub fn muted(s: impl Into<String>) -> Cell {
        Cell::Muted(s.into())
    }

    pub fn link(href: impl Into<String>, text: impl Into<String>) -> Cell {
        Cell::Link(Link { href: href.into(), text: text.into() })
    }

    pub fn is_num(&self) -> bool {
        matches!(self, Cell::Num(_))
    }
}

/// A form. `POST` forms go back to the page they are on, naming their action in `op`.
pub struct Form {
    pub id: String,
    pub action: String,
    pub get: bool,
    pub op: String,
    pub fields: Vec<Field>,
    pub submit: String,
    /// Asked before submitting (`data-confirm`): every form that moves money has one.
    pub confirm: Option<String>,
    /// A one-line form (in a table row or a filter bar).
    pub inline: bool,
    pub danger: bool,
    /// The idempotency key of a form that moves money.
    pub key: Option<String>,
    pub error: Option<String>,
}

impl Form {
    /// A form posting `op` to `here`; its submit button's id is `<id>-submit`.
    pub fn post(id: impl Into<String>, here: &str, op: &str, submit: impl Into<String>) -> Form {
        Form {
            id: id.into(),
            action: here.to_owned(),
            get: false,
            op: op.to_owned(),
            fields: Vec::new(),
            submit: submit.into(),
            confirm: None,
            inline: false,
            danger: false,
            key: None,
            error: None,
        }
    }

    /// A filter form (`GET` to `path`).
    pub fn get(id: impl Into<String>, path: &str, submit: impl Into<String>) -> Form {
        let mut f = Form::post(id, path, "", submit);
        f.get = true;
        f.inline = true;
        f
    }

    pub fn field(mut self, f: Field) -> Form {
        self.fields.push(f);
        self
    }

    pub fn hidden(self, name: &str, value: impl Into<String>) -> Form {
        self.field(Field::new("hidden", name, "").value(value))
    }

    /// Asks `question` first, and carries a fresh idempotency key.
    pub fn money(mut self, question: impl Into<String>) -> Form {
        self.confirm = Some(question.into());
        self.key = Some(form_key());
        self
    }

    pub fn confirm(mut self, question: impl Into<String>) -> Form {
        self.confirm = Some(question.into());
        self
    }

    pub fn inline(mut self) -> Form {
        self.inline = true;
        self
    }

    pub fn danger(mut self) -> Form {
        self.danger = true;
        self
    }

    pub fn submit_id(&self) -> String {
        format!("{}-submit", self.id)
    }
}

/// A form field.
pub struct Field {
    /// `text`, `number`, `password`, `textarea`, `select`, `checkbox`, `hidden`.
    pub kind: &'static str,
    pub name: String,
    pub label: String,
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub placeholder: String,
    /// `(value, label)` of a select.
    pub options: Vec<(String, String)>,
    pub error: Option<String>,
}

impl Field {
    pub fn new(kind: &'static str, name: &str, label: impl Into<String>) -> Field {
        Field {
            kind,
            name: name.to_owned(),
            label: label.into(),
            value: String::new(),
            checked: false,
            required: false,
            placeholder: String::new(),
            options: Vec::new(),
            error: None,
        }
    }

    pub fn text(name: &str, label: impl Into<String>) -> Field {
        Field::new("text", name, label)
    }

    pub fn number(name: &str, label: impl Into<String>) -> Field {
        Field::new("number", name, label)
    }

    pub fn textarea(name: &str, label: impl Into<String>) -> Field {
        Field::new("textarea", name, label)
    }

    pub fn check(name: &str, label: impl Into<String>, checked: bool) -> Field {
        let mut f = Field::new("checkbox", name, label);
        f.checked = checked;
        f
    }

    pub fn select(name: &str, label: impl Into<String>, options: Vec<(String, String)>) -> Field {
        let mut f = Field::new("select", name, label);
        f.options = options;
        f
    }

    pub fn value(mut self, v: impl Into<String>) -> Field {
        self.value = v.into();
        self
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }

    pub fn placeholder(mut self, p: impl Into<String>) -> Field {
        self.placeholder = p.into();
        self
    }
}

/// A JSON body read from a posted form, field by field; a value that is not what the field
/// takes is refused naming the field (400), before the API is called.
pub struct Body<'a> {
    lang: Lang,
    form: &'a [(String, String)],
    pub json: Map<String, Value>,
}

impl<'a> Body<'a> {
    /// The posted form of a visit.
    pub fn of(v: &'a crate::console::Visit) -> Body<'a> {
        Body::new(v.lang, &v.form)
    }

    pub fn new(lang: Lang, form: &'a [(String, String)]) -> Body<'a> {
        Body { lang, form, json: Map::new() }
    }

    /// The field's trimmed text, `None` when absent or empty.
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Copies a text field (when filled).
    pub fn text(mut self, name: &str) -> Body<'a> {
        if let Some(v) = self.raw(name) {
            self.json.insert(name.to_owned(), Value::from(v));
        }
        self
    }

    /// Copies a text field, empty included (an edit form that may clear it).
    pub fn text_or_empty(mut self, name: &str) -> Body<'a> {
        let v = self.raw(name).unwrap_or("");
        self.json.insert(name.to_owned(), Value::from(v));
        self
    }

    /// Copies an integer field (when filled).
    pub fn int(mut self, name: &str) -> Result<Body<'a>, ApiError> {
        if let Some(v) = self.raw(name) {
            let n = parse_int(self.lang, name, v)?;
            self.json.insert(name.to_owned(), Value::from(n));
        }
        Ok(self)
    }

    /// An integer field that must be filled.
    pub fn int_required(self, name: &str) -> Result<Body<'a>, ApiError> {
        if self.raw(name).is_none() {
            return Err(ApiError::invalid_field(name, "missing_field", self.lang.admin_t("입력하세요.")));
        }
        self.int(name)
    }

    /// Copies a checkbox as a boolean (absent: false).
    pub fn check(mut self, name: &str) -> Body<'a> {
        let on = self.form.iter().any(|(k, _)| k == name);
        self.json.insert(name.to_owned(), Value::from(on));
        self
    }

    pub fn set(mut self, name: &str, v: impl Into<Value>) -> Body<'a> {
        self.json.insert(name.to_owned(), v.into());
        self
    }

    pub fn value(self) -> Value {
        Value::Object(self.json)
    }
}

/// An integer typed into a form (`1,000` and spaces allowed), or 400 naming the field.
pub fn parse_int(lang: Lang, name: &str, v: &str) -> Result<i64, ApiError> {
    let clean: String = v.chars().filter(|c| *c != ',' && !c.is_whitespace()).collect();
    clean.parse::<i64>().map_err(|_| {
        ApiError::invalid_field(name, "invalid_number", lang.admin_t("숫자(정수)로 입력하세요."))
    })
}

/// A path id (`/admin/orders/12`) that is a positive integer, or 404.
pub fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::not_found("page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn bodies_from_forms() {
        let f = form(&[("a", " x "), ("n", "1,000"), ("e", ""), ("on", "1")]);
        let b =
            Body::new(Lang::Ko, &f).text("a").text("e").int("n").expect("n").check("on").check("off").value();
        assert_eq!(b, serde_json::json!({"a": "x", "n": 1000, "on": true, "off": false}));
        let bad = form(&[("n", "12abc")]);
        let e = Body::new(Lang::En, &bad).int("n").err().expect("refused");
        assert_eq!((e.status.as_u16(), e.extra.get("field")), (400, Some(&Value::from("n"))));
        assert_eq!(e.message, "Enter a whole number.");
        let e = Body::new(Lang::Ko, &[]).int_required("n").err().expect("missing");
        assert_eq!(e.code, "missing_field");
        assert!(
            parse_int(Lang::Ko, "n", "99999999999999999999").is_err(),
            "overflow is refused, not wrapped"
        );
    }

    #[test]
    fn a_refusal_lands_next_to_its_field() {
        let mut page = Page::new("t").section(
            Section::new("s", "s").form(
                Form::post("f", "/admin/x", "save", "save")
                    .field(Field::number("price", "price"))
                    .field(Field::text("name", "name")),
            ),
        );
        let e = ApiError::invalid_field("price", "invalid", "price too big");
        page.fail("f", &e, &form(&[("price", "-5"), ("name", "kept")]));
        let f = &page.sections[0].forms[0];
        assert_eq!(f.fields[0].error.as_deref(), Some("price too big"));
        assert_eq!((f.fields[0].value.as_str(), f.fields[1].value.as_str()), ("-5", "kept"));
        assert!(f.error.is_none());
        let e = ApiError::bad_request("conflict", "already decided");
        page.fail("f", &e, &[]);
        assert_eq!(page.sections[0].forms[0].error.as_deref(), Some("already decided"));
        page.fail("gone", &e, &[]);
        assert_eq!(page.sections[0].error.as_deref(), Some("already decided"));
    }

    #[test]
    fn path_ids() {
        assert_eq!(path_id("12").ok(), Some(12));
        assert!(path_id("0").is_err() && path_id("-1").is_err() && path_id("x").is_err());
        assert!(path_id("99999999999999999999").is_err());
    }
}
