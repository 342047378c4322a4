"""The composer web app (`tunesmith serve`): a page and a JSON API over `tunesmith.compose`.

`create_app` (in `tunesmith.web.app`) builds the FastAPI application; the page's
files are in `static/`, shipped inside the package, so it works with no network.
"""
