"""Cases, their steps and recording links; the recording checklist and compliance lights;
statistics; retention, disposal and legal hold. See docs/cases.md."""
