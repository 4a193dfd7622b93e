-- Reserved for issue 14 (filled in by its work).
SELECT 1;
