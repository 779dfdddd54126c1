from services.activities.main import build
from shared.serve import serve

serve("activities", build)
