"""The course report: executed notebooks rendered to offline HTML with an index (`make report`)."""

from byol3d.report.headline import HEADLINE_ENV, record_headline, record_picture, record_run

__all__ = ["HEADLINE_ENV", "record_headline", "record_picture", "record_run"]
