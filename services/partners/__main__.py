from services.partners.main import build
from shared.serve import serve

serve("partners", build)
