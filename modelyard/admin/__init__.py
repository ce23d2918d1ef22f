"""The administration area at `/admin`: its home page and navigation, and the pages of the server itself (background
jobs, outgoing e-mail). Each domain contributes its own sections (`area.register_admin_section`): accounts its
users, the catalog its transition log and held files, flags its feature flags."""
