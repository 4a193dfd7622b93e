-- The original client's login popup: a notice of popup_type 'login' shows this image after sign-in.
ALTER TABLE notices ADD COLUMN login_popup_image_url TEXT;
