from services.console.main import build
from shared.serve import serve

serve("console", build)
