from services.notifications.main import build
from shared.serve import serve

serve("notifications", build)
