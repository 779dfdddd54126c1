from shared.serve import serve

serve("activities")
