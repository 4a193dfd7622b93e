//! Examples of embedding snspmt; see the `[[example]]` targets.
